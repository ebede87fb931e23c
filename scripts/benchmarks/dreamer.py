"""Dreamer update benchmark: gradient steps per second of `DreamerAgent.update` (world-model step +
imagination + actor-critic step) on a random replay-shaped batch, eager and torch.compile'd.

    python scripts/bench.py dreamer [--device cpu|cuda|auto] [--size s] [--batch 16] [--length 64]
                                    [--horizon 15] [--image 64] [--modes eager,compiled] [--iters 5]

The agent is built from the real configs (configs/agent/dreamer.yaml = DreamerV3, the size group
file), so the figures are those of the default run. bf16 autocast applies on CUDA only.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from worldmodels.agents.dreamer import DreamerAgent
from worldmodels.envs.spaces import ActSpec, ArraySpec

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# graph: agent.cuda_graph (eager cells; capture with compiled cells is refused, see the agent)
MODES = ("eager", "compiled", "graph")


def add_args(parser: argparse.ArgumentParser) -> None:
    sizes = sorted(p.stem for p in (CONFIGS / "size").glob("*.yaml"))
    parser.add_argument("--size", default="s", choices=sizes, help="a configs/size/ file")
    parser.add_argument(
        "--obs",
        default="image",
        choices=("image", "vector"),
        help="image: --image pixels (dmc_vision); vector: --vector-dim floats (dmc_proprio)",
    )
    parser.add_argument("--vector-dim", type=int, default=5, help="5: cartpole's proprio obs")
    parser.add_argument("--batch", type=int, default=16, help="sequences B")
    parser.add_argument("--length", type=int, default=64, help="sequence length T")
    parser.add_argument("--horizon", type=int, default=15, help="imagination horizon H")
    parser.add_argument("--image", type=int, default=64, help="square image side (16, 32, 64)")
    parser.add_argument("--action-dim", type=int, default=6, help="6: walker")
    parser.add_argument(
        "--modes",
        default="eager,compiled",
        help="comma list of " + ", ".join(MODES) + " (graph: agent.cuda_graph, CUDA only)",
    )
    parser.add_argument("--iters", type=int, default=5, help="timed updates per mode")
    parser.add_argument("--warmup", type=int, default=2, help="untimed updates first (compilation)")
    parser.add_argument(
        "--preset",
        default=None,
        help="compose configs as worldmodels.train does with preset=NAME (dreamer_v3, "
        "dreamer_v3_2023, ...) and size=--size; default: configs/agent/dreamer.yaml",
    )
    parser.add_argument(
        "--peer",
        default=None,
        choices=("sheeprl",),
        help="run ../shared/peers/sheeprl_dreamer_v3.sh (or .device/peers/) first, when present",
    )
    parser.add_argument("--peer-seconds", type=int, default=300)


def agent_config(size: str, **overrides: object) -> dict:
    """configs/agent/dreamer.yaml (with its world model, configs/world_model/rssm.yaml) resolved
    against configs/size/<size>.yaml, plus overrides."""
    from worldmodels.config.compose import compose_config

    cfg = compose_config(["agent=dreamer", f"size={size}"])
    agent = OmegaConf.to_container(cfg.agent, resolve=True)
    assert isinstance(agent, dict)
    agent.pop("_target_")
    agent.pop("train_ratio", None)  # the loop's, not the agent's
    agent.update(overrides)
    return agent


def preset_config(preset: str, size: str, env: str = "dmc_vision", **overrides: object) -> dict:
    """The agent config `python -m worldmodels.train preset=PRESET size=SIZE env=ENV` builds,
    plus overrides (the protocol file of that env's domain applies)."""
    from worldmodels.config.compose import compose_config
    from worldmodels.train import apply_world_model_ablation

    cfg = compose_config([f"preset={preset}", f"size={size}", f"env={env}"])
    agent = OmegaConf.to_container(apply_world_model_ablation(cfg).agent, resolve=True)
    assert isinstance(agent, dict)
    agent.pop("_target_", None)
    agent.pop("train_ratio", None)  # the loop's, not the agent's
    agent.update(overrides)
    return agent


def run_peer(name: str, seconds: int) -> None:
    """The peer's figure from the same machine, before ours (sheeprl's DreamerV3-S)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    found = [
        p
        for p in (
            root / ".device/peers/sheeprl_dreamer_v3.sh",
            root.parent / "shared/peers/sheeprl_dreamer_v3.sh",
        )
        if p.exists()
    ]
    if not found:
        print(
            f"peer {name}: sheeprl_dreamer_v3.sh not found "
            "(.device/peers/ or ../shared/peers/); skipped"
        )
        return
    try:
        import sheeprl  # noqa: F401
    except ImportError:
        print(
            f"peer {name}: sheeprl is not installed here "
            "(../shared/device/prepare --peers packs it); skipped"
        )
        return
    print(f"peer {name}: running {found[0]} {seconds}", flush=True)
    subprocess.run(["bash", str(found[0]), str(seconds)], check=False)


def random_batch(
    b: int, t: int, image: int, act_dim: int, device: torch.device, vector: int = 0
) -> dict[str, torch.Tensor]:
    """A sequences batch as the replay returns it: uint8 frames (or `vector` floats), actions
    in [-1, 1], flags."""
    first = torch.zeros(b, t, dtype=torch.bool, device=device)
    first[:, 0] = True
    obs = (
        {"vector": torch.randn(b, t, vector, device=device)}
        if vector
        else {
            "image": torch.randint(
                0, 256, (b, t, image, image, 3), dtype=torch.uint8, device=device
            )
        }
    )
    return {
        **obs,
        "action": torch.rand(b, t, act_dim, device=device) * 2 - 1,
        "reward": torch.rand(b, t, device=device),
        "is_first": first,
        "is_last": torch.zeros(b, t, dtype=torch.bool, device=device),
        "is_terminal": torch.zeros(b, t, dtype=torch.bool, device=device),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _params(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def bench_mode(
    args: argparse.Namespace, device: torch.device, compiled: bool, graph: bool = False
) -> dict[str, float]:
    """Times `agent.update` on one random batch; `graph`: agent.cuda_graph (its first 3 updates
    eager, the 4th captures, so the warm-up is at least 4 updates)."""
    torch.manual_seed(0)
    kw = dict(batch_size=args.batch, batch_length=args.length, horizon=args.horizon)
    env = "dmc_proprio" if args.obs == "vector" else "dmc_vision"
    if args.preset:
        cfg = preset_config(args.preset, args.size, env, compile=compiled, **kw)
    else:
        cfg = agent_config(args.size, compile=compiled, **kw)
    cfg["world_model"]["compile"] = compiled  # the world model's cells and heads too
    cfg["cuda_graph"] = graph
    length = args.length + int(cfg.get("replay_context", 0))
    vector = args.vector_dim if args.obs == "vector" else 0
    obs_spec = (
        {"vector": ArraySpec((vector,), "float32")}
        if vector
        else {"image": ArraySpec((args.image, args.image, 3), "uint8")}
    )
    agent = DreamerAgent(obs_spec, ActSpec(args.action_dim, False), device, **cfg)
    batch = random_batch(args.batch, length, args.image, args.action_dim, device, vector)
    for k, spec in agent.data.extras.items():  # replay context: stored latents
        batch[k] = torch.zeros(args.batch, length, *spec.shape, device=device)
    t0 = time.perf_counter()
    for _ in range(max(args.warmup, 4) if graph else args.warmup):
        agent.update(batch)
    _sync(device)
    warmup_s = time.perf_counter() - t0
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        metrics = agent.update(batch)
        _sync(device)
        times.append(time.perf_counter() - t0)
    assert all(torch.isfinite(v) for v in metrics.values())
    median = statistics.median(times)
    return {
        "steps_per_s": 1.0 / median,
        "median_s": median,
        "best_s": min(times),
        "warmup_s": warmup_s,
        "wm_params_m": _params(agent.world_model),
        "ac_params_m": _params(agent.actor) + _params(agent.critic),
        "capture_s": (agent._graphed.capture_s or 0.0) if agent._graphed is not None else 0.0,
    }


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def run(args: argparse.Namespace) -> None:
    device = _device(args.device)
    if device.type == "cpu":  # as `python -m worldmodels.train` does on CPU
        from worldmodels.training.cpu_allocator import keep_freed_memory

        keep_freed_memory()
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (platform.processor() or platform.machine())
    )
    label = f"preset={args.preset}" if args.preset else "DreamerV3 defaults"
    print(
        f"== dreamer update benchmark on {device.type} ({name}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"config: {label}, size {args.size}, batch {args.batch} x {args.length}, "
        f"horizon {args.horizon}, "
        + (
            f"{args.vector_dim} vector obs"
            if args.obs == "vector"
            else f"{args.image}x{args.image}x3 pixels"
        )
        + f", action dim {args.action_dim}, "
        f"{'bf16 autocast' if device.type == 'cuda' else 'float32'}, "
        f"{args.warmup} warm-up + {args.iters} timed updates"
    )
    if args.peer:
        run_peer(args.peer, args.peer_seconds)
    results = {}
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
        graph = mode == "graph"
        if graph and device.type != "cuda":
            print(
                f"{mode:>14}: skipped (CUDA-graph capture of the update is CUDA-only)", flush=True
            )
            continue
        try:
            r = bench_mode(args, device, compiled=mode == "compiled", graph=graph)
        except Exception as err:  # one mode failing must not lose the others' figures
            print(f"{mode:>14}: FAILED: {type(err).__name__}: {err}", flush=True)
            continue
        results[mode] = r
        capture = f"; capture {r['capture_s']:.1f} s" if graph else ""
        print(
            f"{mode:>14}: {r['steps_per_s']:.3f} grad steps/s "
            f"(median {r['median_s'] * 1e3:.0f} ms, "
            f"best {r['best_s'] * 1e3:.0f} ms; warm-up {r['warmup_s']:.1f} s{capture}; "
            f"world model {r['wm_params_m']:.2f}M, "
            f"actor+critic {r['ac_params_m']:.2f}M params)",
            flush=True,
        )
    for mode in (m for m in MODES if m != "eager"):
        if "eager" in results and mode in results:
            ratio = results[mode]["steps_per_s"] / results["eager"]["steps_per_s"]
            print(f"{mode} / eager: {ratio:.2f}x")
