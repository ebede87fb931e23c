"""Write run dirs with known curves in the training loop's layout, for tests and for trying the
report without training anything:

    python -m worldmodels.analysis.synthetic OUT_DIR   # then: python -m worldmodels.report OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml


def write_run(
    run_dir: Path,
    overrides: Sequence[str],
    task: str,
    seed: int,
    returns: Sequence[float],
    frames: Sequence[int],
    suite: str = "dmc",
    state: str = "done",
    target_frames: int | None = None,
    metric: str = "eval/return_mean",
    extra_lines: Sequence[str] = (),
) -> Path:
    """A run dir whose `metric` takes `returns[i]` at `frames[i]`, interleaved with train-log
    lines (which lack the metric), plus `extra_lines` appended verbatim to metrics.jsonl."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "seed": seed,
        "env": {"suite": suite, "task": task},
        "agent": {"_target_": "worldmodels.agents.random.RandomAgent"},
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
    lines = []
    for i, (f, r) in enumerate(zip(frames, returns)):
        base = {
            "env_frames": int(f),
            "policy_steps": int(f) // 2,
            "grad_steps": i * 10,
            "wall_time": float(i),
        }
        lines.append(json.dumps({**base, "episode/return": float(r) * 0.9, "wm/loss/kl": 1.0}))
        lines.append(json.dumps({**base, metric: float(r), "eval/return_std": 1.0}))
    lines.extend(extra_lines)
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    last = int(frames[-1]) if len(frames) else 0
    status = {"state": state, "env_frames": last, "target_frames": target_frames or last}
    (run_dir / "status.json").write_text(json.dumps(status))
    return run_dir


def write_sweep(
    out: Path,
    groups: dict[str, float],
    tasks: Sequence[str],
    seeds: Sequence[int],
    points: int = 10,
    budget: int = 100_000,
) -> list[Path]:
    """A full sweep: group override -> asymptotic return, each (group, task, seed) a saturating
    curve towards it with seed noise. Dir names follow Hydra's override_dirname."""
    rng = np.random.default_rng(0)
    frames = np.linspace(budget / points, budget, points).astype(int)
    paths = []
    for override, top in groups.items():
        for task in tasks:
            for seed in seeds:
                curve = top * (1 - np.exp(-4 * frames / budget)) + rng.normal(0, 10, points)
                ov = [override, f"env.task={task}", f"seed={seed}"]
                paths.append(
                    write_run(out / ",".join(ov), ov, task, seed, curve.tolist(), frames.tolist())
                )
    return paths


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m worldmodels.analysis.synthetic",
        description="Write a synthetic sweep (2 ablations x 2 tasks x 3 seeds of known curves) "
        "in the training loop's run-dir layout, to try the report without training: then "
        "python -m worldmodels.report OUT_DIR.",
    )
    p.add_argument("out_dir", type=Path, help="where the run dirs go (created)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: argparse handles --help and bad arguments before anything is written."""
    args = _parser().parse_args(argv)
    dirs = write_sweep(
        args.out_dir,
        {"+ablation=none": 800.0, "+ablation=no_free_nats": 600.0},
        ["walker_walk", "cheetah_run"],
        [0, 1, 2],
    )
    print(f"wrote {len(dirs)} synthetic runs under {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
