"""Time one Dreamer update and one imagination at the side-by-side config, for A/B runs of two
checkouts (the speed work of issue 11, benchmarks/RESULTS.md).

    OMP_NUM_THREADS=1 taskset -c 0 python update_speed.py --root CHECKOUT --mode compiled --iters 8

Builds `preset=dreamer_v3 size=size1m env=dmc_proprio` from CHECKOUT's configs (cartpole: 5
vector dims, 1 action), feeds a random [16, 65] batch, and prints the min and median seconds of
`agent.update` and of `world_model.imagine` from 1024 starts over 15 steps. `--alloc` applies
the glibc malloc setting that `python -m worldmodels.train` applies on CPU (checkouts that have
worldmodels/training/cpu_allocator.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any


def build_agent(compiled: bool) -> Any:
    """The side-by-side config's DreamerAgent (cartpole: 5 vector dims, 1 action), eager or
    compiled; the checkout to measure must be first on sys.path."""
    import torch
    from omegaconf import OmegaConf

    from worldmodels.agents.dreamer import DreamerAgent
    from worldmodels.config.compose import compose_config
    from worldmodels.envs.spaces import ActSpec, ArraySpec
    from worldmodels.train import apply_world_model_ablation

    cfg = compose_config(["preset=dreamer_v3", "size=size1m", "env=dmc_proprio"])
    agent_cfg = OmegaConf.to_container(apply_world_model_ablation(cfg).agent, resolve=True)
    assert isinstance(agent_cfg, dict)
    agent_cfg.pop("_target_", None)
    agent_cfg.pop("train_ratio", None)
    agent_cfg["compile"] = compiled
    agent_cfg["world_model"]["compile"] = compiled
    torch.manual_seed(0)
    obs_spec = {"vector": ArraySpec((5,), "float32")}
    return DreamerAgent(obs_spec, ActSpec(1, False), torch.device("cpu"), **agent_cfg)


def make_batch(agent: Any, b: int = 16, t: int = 64) -> dict[str, Any]:
    """A random replay batch [b, t + the agent's context rows] for `agent.update`."""
    import torch

    t += agent.cfg.replay_context
    first = torch.zeros(b, t, dtype=torch.bool)
    first[:, 0] = True
    batch = {
        "vector": torch.randn(b, t, 5), "action": torch.rand(b, t, 1) * 2 - 1,
        "reward": torch.rand(b, t), "is_first": first,
        "is_last": torch.zeros(b, t, dtype=torch.bool),
        "is_terminal": torch.zeros(b, t, dtype=torch.bool),
    }  # fmt: skip
    for key, spec in agent.data.extras.items():  # replay context: stored latents
        batch[key] = torch.zeros(b, t, *spec.shape)
    return batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--root", required=True, help="the checkout to time")
    p.add_argument("--mode", choices=("eager", "compiled"), default="compiled")
    p.add_argument("--iters", type=int, default=8)
    p.add_argument("--alloc", action="store_true")
    args = p.parse_args()
    sys.path.insert(0, args.root)
    import torch

    if args.alloc:
        from worldmodels.training.cpu_allocator import keep_freed_memory

        keep_freed_memory()
    torch.set_num_threads(1)
    agent = build_agent(args.mode == "compiled")
    batch = make_batch(agent)
    n = 1024
    start = {"deter": torch.randn(n, 512) * 0.3, "stoch": torch.zeros(n, 128),
             "stat": torch.zeros(n, 128)}  # fmt: skip

    def imagine() -> None:
        with torch.no_grad():
            agent.world_model.imagine(start, agent._policy, 15)

    for _ in range(3):  # warm-up (compilation)
        agent.update(batch)
        imagine()
    upd, img = [], []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        agent.update(batch)
        upd.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        imagine()
        img.append(time.perf_counter() - t0)
    print(
        f"{args.root} {args.mode}: update min {min(upd):.3f} s, median {statistics.median(upd):.3f}"
        f" s | imagine min {min(img):.3f} s, median {statistics.median(img):.3f} s"
    )


if __name__ == "__main__":
    main()
