"""The CPU learning benchmark's commands end to end in fast mode (issue 11): both recipes
(`+experiment=cpu_proprio_dreamer`, `+experiment=cpu_proprio_sac`) as sweeps with `trainer=debug`
(debug clocks win over the recipes' 100k frames), one task and seed each, then the report over
both sweep dirs with the published curves as reference."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg

ROOT = Path(__file__).resolve().parents[2]
FAST = [
    "env.task=cartpole_balance", "seed=0", "trainer=debug", "logger.progress=false",
    "logger.video=false", "logger.tensorboard=false", "device=cpu",
]  # fmt: skip


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_cpu_recipes_then_report(tmp_path):
    sweeps = {}
    for name in ("dreamer", "sac"):
        sweeps[name] = tmp_path / name
        _run(
            ["worldmodels.train", "-m", f"+experiment=cpu_proprio_{name}",
             f"hydra.sweep.dir={sweeps[name]}", *FAST],
            tmp_path,
        )  # fmt: skip
        (run_dir,) = [p.parent for p in sweeps[name].rglob("metrics.jsonl")]
        config = (run_dir / "config.yaml").read_text()
        assert "action_repeat: 2" in config and "task: cartpole_balance" in config
        assert "steps: 160" in config  # trainer=debug's clocks, not the recipe's 100k frames
    dreamer_cfg = next(sweeps["dreamer"].rglob("config.yaml")).read_text()
    assert "train_ratio: 64" in dreamer_cfg and "LaProp" not in dreamer_cfg
    assert "optimizer: laprop" in dreamer_cfg  # preset=dreamer_v3: the current release
    out = tmp_path / "report"
    _run(
        ["worldmodels.report", str(sweeps["dreamer"]), str(sweeps["sac"]), "--out", str(out),
         "--reference", "dreamerv3_proprio_2023,sac_proprio", "--no-tb", "--reps", "200"],
        tmp_path,
    )  # fmt: skip
    with (out / "tasks.csv").open() as f:
        rows = {r["group"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"experiment=cpu_proprio_dreamer", "experiment=cpu_proprio_sac"}
    assert all(r["task"] == "cartpole_balance" and r["state"] == "done" for r in rows.values())
    assert "dreamerv3_proprio_2023" in (out / "report.md").read_text()  # the grey reference
    assert mpimg.imread(out / "curves.png").shape[0] > 100
