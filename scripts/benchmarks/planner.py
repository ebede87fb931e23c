"""Planner benchmark: milliseconds per action of a planner agent (filter o_t, then plan) at PlaNet's
setting (horizon 12, 1000 candidates, 10 iterations, top 100: 120,000 latent transitions per env
per action) with a DreamerV3-S-sized world model (random weights: speed does not depend on them) on
64x64 pixels and 6 action dims (walker), for 1 and 16 envs, eager and compiled (one refit
iteration, replayed `iterations` times, or the whole unrolled plan as one graph).

    python scripts/bench.py planner [--device cpu|cuda|auto] [--envs 1,16] [--modes eager,compiled]
        [--method cem] [--size s] [--iters 5] [--compile-mode default|reduce-overhead|...]
        [--compile-scope iteration|plan]

Target (issue 5): at most 5 ms per action for one env on an H100.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from omegaconf import OmegaConf

from benchmarks.replay import _device, _device_name, _sync
from worldmodels.agents.planners import Planner, PlannerAgent
from worldmodels.envs.spaces import ActSpec, ArraySpec
from worldmodels.train import CONFIG_DIR

MODES = ("eager", "compiled")


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--envs", default="1,16", help="comma-separated env batch sizes B")
    parser.add_argument("--modes", default="eager,compiled", help="eager and/or compiled")
    parser.add_argument("--method", default="cem", choices=("cem", "mppi", "random_shooting"))
    parser.add_argument("--size", default="s", help="world-model size preset (configs/size)")
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--elites", type=int, default=100)
    parser.add_argument("--action-dim", type=int, default=6, help="6: walker")
    parser.add_argument("--iters", type=int, default=5, help="timed actions per figure")
    parser.add_argument("--warmup", type=int, default=2, help="untimed actions first (compiles)")
    parser.add_argument("--compile-mode", default="default", help="torch.compile mode")
    parser.add_argument(
        "--compile-scope",
        default="iteration",
        choices=("iteration", "plan"),
        help="compile one refit iteration (replayed) or the whole unrolled plan",
    )


def build(args: argparse.Namespace, device: torch.device) -> PlannerAgent:
    """A planner agent with the size preset's widths and the DreamerV3 world-model defaults."""
    size = OmegaConf.load(f"{CONFIG_DIR}/size/{args.size}.yaml")
    world_model: dict[str, Any] = {"_target_": "worldmodels.models.world_model.WorldModel"}
    world_model.update({str(k): int(v) for k, v in size.items()})  # units, deter, ...
    hparams: dict[str, Any] = dict(
        world_model=world_model,
        method=args.method,
        horizon=args.horizon,
        candidates=args.candidates,
        iterations=args.iterations,
        elites=args.elites,
    )
    torch.manual_seed(0)
    obs = {"image": ArraySpec((64, 64, 3), "uint8")}
    return PlannerAgent(obs, ActSpec(args.action_dim, False), device, **hparams)


def run(args: argparse.Namespace) -> None:
    device = _device(args.device)
    modes = [m for m in args.modes.split(",") if m]
    if set(modes) - set(MODES):
        raise ValueError(f"--modes must be among {', '.join(MODES)}, got {args.modes!r}")
    agent = build(args, device)
    params = sum(p.numel() for p in agent.world_model.parameters())
    print(
        f"== planner benchmark on {_device_name(device)} (torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads)"
    )
    print(
        f"config: {args.method}, horizon {args.horizon}, {args.candidates} candidates, "
        f"{args.iterations} iterations, top {args.elites} "
        f"({args.horizon * args.candidates * args.iterations:,} latent transitions per env per "
        f"action); world model size={args.size} ({params / 1e6:.1f}M parameters), 64x64x3 "
        f"pixels, action dim {args.action_dim}; "
        f"{'bf16 autocast' if device.type == 'cuda' else 'float32'}; act = filter + plan"
    )
    eager = agent.planner
    compiled = Planner(
        agent.world_model,
        agent.act_spec,
        agent.planner_cfg,
        compile_mode=args.compile_mode,
        compile_scope=args.compile_scope,
    )
    for b in (int(x) for x in args.envs.split(",")):
        for mode in modes:
            agent.planner = compiled if mode == "compiled" else eager
            first_s, times = _time_act(agent, b, args.iters, args.warmup, device)
            median = statistics.median(times)
            rate = b * args.horizon * args.candidates * args.iterations / (median / 1e3)
            label = f"compiled {args.compile_scope} ({args.compile_mode})"
            label = label if mode == "compiled" else "eager"
            print(
                f"B={b:>2} {label:<32} {median:9.1f} ms per act call, {median / b:8.1f} ms per "
                f"env-action (min {min(times):.1f}, max {max(times):.1f}, {len(times)} calls; "
                f"first call {first_s:.1f} s; {rate:,.0f} latent transitions/s)",
                flush=True,
            )


def _time_act(
    agent: PlannerAgent, b: int, iters: int, warmup: int, device: torch.device
) -> tuple[float, list[float]]:
    """Seconds of the first act (compilation), then ms of `iters` acts, on random pixels."""
    gen = torch.Generator().manual_seed(0)
    obs = {
        "image": torch.randint(0, 256, (b, 64, 64, 3), generator=gen, dtype=torch.uint8).to(device),
        "is_first": torch.zeros(b, dtype=torch.bool, device=device),
    }
    state = agent.init_state(b)
    times, first = [], 0.0
    for i in range(warmup + iters):
        _sync(device)
        start = time.perf_counter()
        _, state = agent.act(obs, state, "explore")
        _sync(device)
        elapsed = time.perf_counter() - start
        if i == 0:
            first = elapsed
        if i >= warmup:
            times.append(elapsed * 1e3)
    return first, times
