"""What `make train ARGS=...` is about to run, and how long that takes without a GPU.

    python -m worldmodels.training.cpu_notice [OVERRIDES...]

Prints the agent, env, model size, budget and the number of updates; on a machine without CUDA
also the time those updates take at the measured CPU rates below (one core), and a CPU-sized
command instead. It never asks (CI has no stdin) and never stops the run: `make train` goes on to
train. A config error prints nothing here (the training command reports it, once).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from typing import Any

#: Measured seconds per update on one CPU core (torch 2.x CPU build), by (size, observations).
#: s/pixels: DreamerV3-S on 64x64 DMC pixels; size1m/proprio: ~0.9 updates/s (README);
#: xs/proprio: the CI learning checks' size.
MEASURED_S_PER_UPDATE: dict[tuple[str, str], float] = {
    ("s", "pixels"): 21.0,
    ("size1m", "proprio"): 1.1,
    ("xs", "proprio"): 0.5,
}
CPU_RUN = (
    'make train ARGS="env=dmc_proprio env.task=cartpole_balance size=xs trainer.steps=20000 '
    'trainer.num_envs=1"'
)
SMOKE_RUN = 'make train ARGS="trainer=debug"'


def size_name(size: dict[str, Any]) -> str | None:
    """The configs/size/<name>.yaml whose widths `size` has, or None."""
    from omegaconf import OmegaConf

    from worldmodels.training.debug import CONFIGS

    for path in sorted((CONFIGS / "size").glob("*.yaml")):
        if path.stem == "default":
            continue
        values = OmegaConf.to_container(OmegaConf.load(path))
        if isinstance(values, dict) and all(size.get(str(k)) == v for k, v in values.items()):
            return path.stem
    return None


def plan(cfg: dict[str, Any]) -> dict[str, Any]:
    """Budget, updates and (where measured) CPU seconds of a resolved config."""
    from worldmodels.envs.make import parse_env_config

    trainer, agent = cfg["trainer"], cfg["agent"]
    repeat = parse_env_config(cfg["env"]).action_repeat
    ratio = trainer.get("train_ratio") or agent.get("train_ratio") or 0.0
    if "batch_size" in agent and "batch_length" in agent:  # sequences: Dreamer, planners
        rows = int(agent["batch_size"]) * int(agent["batch_length"])
    else:
        rows = int(agent.get("batch") or agent.get("batch_size") or 0)
    policy_steps = max(0, int(trainer["steps"]) - int(trainer["prefill"])) // repeat
    updates = int(policy_steps * float(ratio) / rows) if rows and ratio else None
    obs = "proprio" if cfg["env"].get("obs") == "proprio" else "pixels"
    size = size_name(cfg["size"])
    per_update = MEASURED_S_PER_UPDATE.get((size or "", obs)) if rows else None
    sequences = "batch_length" in agent
    return {
        "agent": agent.get("_target_", "?").rsplit(".", 1)[-1],
        "env": f"{cfg['env']['suite']}:{cfg['env']['task']} ({cfg['env'].get('obs')})",
        "size": size or "custom",
        "steps": int(trainer["steps"]),
        "updates": updates,
        "seconds": updates * per_update if updates and per_update and sequences else None,
        "per_update": per_update if sequences else None,
    }


def duration(seconds: float) -> str:
    for unit, length in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= length:
            return f"{seconds / length:.1f} {unit}"
    return f"{seconds:.0f} s"


def notice(overrides: list[str], cuda: bool) -> str:
    """The lines printed before `make train` trains."""
    from worldmodels.config.compose import compose_config, resolved

    p = plan(resolved(compose_config(overrides)))
    what = (
        f"about to run: python -m worldmodels.train {' '.join(overrides)}".rstrip()
        + f"\n  {p['agent']} on {p['env']}, size {p['size']}, {p['steps']:,} env frames"
        + (f", {p['updates']:,} updates" if p["updates"] is not None else "")
    )
    if cuda:
        return what
    lines = [what, "  no CUDA GPU here: this trains on the CPU"]
    if p["seconds"] is not None:
        lines.append(
            f"  estimated: {duration(p['seconds'])} on one CPU core (measured: "
            f"{p['per_update']:g} s per update at size {p['size']})"
        )
    else:
        known = ", ".join(f"size {s} {o}: {t:g} s" for (s, o), t in MEASURED_S_PER_UPDATE.items())
        lines.append(f"  no CPU measurement for this config (per update, one core: {known})")
    lines.append(f"  a CPU-sized run instead (about 30-40 minutes): {CPU_RUN}")
    lines.append(f"  a smoke test (seconds): {SMOKE_RUN}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worldmodels.training.cpu_notice",
        description="Print what `make train` is about to run and, without CUDA, how long it "
        "takes on a CPU and a CPU-sized command instead. Never asks; always exits 0.",
    )
    parser.add_argument("overrides", nargs="*", help="the Hydra overrides make train passes")
    args = parser.parse_args(argv)
    if any(o.startswith("-") for o in args.overrides):  # -m sweeps, --cfg: nothing to estimate
        return 0
    import torch

    from worldmodels.errors import UserError

    # a config error: the training command reports it itself, once
    with contextlib.suppress(UserError, ValueError, KeyError, TypeError):
        print(notice(list(args.overrides), torch.cuda.is_available()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
