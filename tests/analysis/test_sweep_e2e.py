"""A researcher's two commands end to end: a 2-ablation x 2-seed Dreamer sweep (size xs, dummy
pixel env, a few updates) through the local parallel launcher, then the report on the sweep dir."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg

ROOT = Path(__file__).resolve().parents[2]
# Small enough for two shared CPU cores: 80 frames, 10 updates of batch 4 x 8, evals at 40 and 80.
TINY = [
    "agent=dreamer", "size=xs", "env=dummy", "env.image_size=16", "trainer=debug",
    "trainer.steps=80", "trainer.eval_every=40", "trainer.train_ratio=8",
    "agent.batch_size=4", "agent.batch_length=8", "agent.horizon=5",
    "logger.progress=false", "logger.video=false", "logger.tensorboard=false",
]  # fmt: skip


def test_ablation_sweep_then_report(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable, "-m", "worldmodels.train", "-m", "+ablation=none,no_free_nats", "seed=0,1",
        "hydra/launcher=local", f"hydra.sweep.dir={sweep}", *TINY,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "with 2 concurrent workers" in proc.stdout + proc.stderr  # joblib ran jobs in parallel

    # Each run dir names itself after its overrides and holds a finished run.
    runs = sorted(p.parent for p in sweep.rglob("metrics.jsonl"))
    assert len(runs) == 4
    for ablation in ("none", "no_free_nats"):
        for seed in (0, 1):
            (run,) = [
                r for r in runs if f"ablation={ablation}," in r.name and f"seed={seed}" in r.name
            ]
            assert json.loads((run / "status.json").read_text())["state"] == "done"

    out = tmp_path / "report"
    cmd = [
        sys.executable,
        "-m",
        "worldmodels.report",
        str(sweep),
        "--out",
        str(out),
        "--reps",
        "200",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "4 run(s), 2 group(s)" in proc.stdout
    with (out / "tasks.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["group"], r["task"], r["n_seeds"], r["state"]) for r in rows] == [
        ("ablation=none", "reach", "2", "done"),
        ("ablation=no_free_nats", "reach", "2", "done"),
    ]
    for r in rows:
        assert -1.0 <= float(r["normalized_mean"]) <= 1.0  # reach returns lie in [-30, 30]
    with (out / "issues.csv").open() as f:
        assert list(csv.DictReader(f)) == []  # a complete sweep: nothing missing or partial
    for name in ("curves", "aggregate", "profiles"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert mpimg.imread(out / f"{name}.png").shape[0] > 50
    assert (out / "tb").is_dir()


def test_submitit_local_launcher_runs_a_seed_sweep(tmp_path):
    # hydra-submitit-launcher's local executor: the same code path as `hydra/launcher=slurm`
    # (pickled jobs, submitit folders), run as local processes.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable, "-m", "worldmodels.train", "-m", "seed=0,1", "agent=random", "env=dummy",
        "env.obs=proprio", "trainer=debug", "logger.progress=false", "logger.tensorboard=false",
        "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5",
        f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = sorted(p.parent for p in sweep.rglob("metrics.jsonl"))
    assert [r.name for r in runs] == [
        "agent=random,env.obs=proprio,env=dummy,seed=0,trainer=debug",
        "agent=random,env.obs=proprio,env=dummy,seed=1,trainer=debug",
    ]
    for run in runs:
        assert json.loads((run / "status.json").read_text())["state"] == "done"
    assert (sweep / ".submitit").is_dir()
