"""Tier 3, end to end: planners on a trained world model through the real entry points.

- a tiny Dreamer run (worldmodels.train, debug trainer), then `worldmodels.compare` in its debug
  setting writes compare.md / compare.csv / compare.png with every contender, and
  `worldmodels.evaluate` reproduces the comparison's CEM row (same world model, same seeds);
- `agent=cem` trains its own world model online (PlaNet) and its run can be planned with again;
- bad input: one clear line naming the valid options (exit code 2 from the command line).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from worldmodels.compare import compare_run
from worldmodels.evaluate import evaluate_run
from worldmodels.train import UserError, run

ROOT = Path(__file__).resolve().parents[2]
TINY_ENV = [
    "size=xs",
    "env=dummy",
    "env.task=reach",
    "env.image_size=16",
    "trainer=debug",
    "device=cpu",
    "logger.progress=false",
    "logger.tensorboard=false",
    "logger.video=false",
]
SMALL_PLANNER = ["agent.horizon=3", "agent.candidates=16", "agent.iterations=2", "agent.elites=4"]


@pytest.fixture(scope="module")
def dreamer_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("compare") / "dreamer"
    return run(["agent=dreamer", *TINY_ENV, f"run_dir={run_dir}"])


def test_compare_writes_table_csv_and_chart(dreamer_run):
    rows = compare_run([f"run={dreamer_run}", "trainer=debug", "device=cpu"])
    names = ["actor", "cem", "mppi", "random_shooting", "mppi_actor_value", "random"]
    assert [r[0] for r in rows] == names
    with (dreamer_run / "compare.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [r["agent"] for r in table] == names
    for r in table:
        mean, lo, hi = (float(r[k]) for k in ("return_mean", "return_ci_low", "return_ci_high"))
        assert int(r["episodes"]) == 2 and float(r["length_mean"]) == 30
        assert np.isfinite([mean, lo, hi]).all() and lo <= mean <= hi
        assert -30 <= mean <= 30  # reach: 30 rewards in [-1, 1]
        assert float(r["ms_per_action"]) > 0
    planners = {r["agent"]: float(r["ms_per_action"]) for r in table}
    assert planners["cem"] > planners["random"]  # planning costs time, random actions do not
    md = (dreamer_run / "compare.md").read_text()
    assert "| agent | return (mean [95% CI])" in md and "dummy:reach" in md
    assert all(f"| {n} |" in md for n in names)
    image = matplotlib.image.imread(dreamer_run / "compare.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    # the same world model and seeds: evaluate reproduces the comparison's CEM row exactly
    out = evaluate_run([f"checkpoint={dreamer_run}", "agent=cem", "trainer=debug", "device=cpu"])
    cem = next(r for r in table if r["agent"] == "cem")
    assert out["return_mean"] == pytest.approx(float(cem["return_mean"]), rel=1e-9)
    assert json.loads((dreamer_run / "eval_cem.json").read_text())["seeds"] == [10_000, 10_001]


def test_cem_agent_trains_online_and_its_run_plans_again(tmp_path):
    run_dir = run(
        [
            "agent=cem",
            *TINY_ENV,
            *SMALL_PLANNER,
            "agent.batch_size=4",
            "agent.batch_length=16",
            f"run_dir={tmp_path / 'cem'}",
        ]
    )
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["grad_steps"] > 0 and any("wm/loss" in m for m in metrics)
    assert any("eval/return_mean" in m for m in metrics)
    assert (run_dir / "world_model.pt").exists()
    out = evaluate_run(
        [
            f"checkpoint={run_dir}",
            "agent=mppi",
            "trainer=debug",
            "device=cpu",
            "episodes=1",
            "horizon=2",
        ]
    )
    assert out["planner"]["horizon"] == 2 and out["episodes"] == 1 and not out["uses_actor"]


def test_errors_are_one_line_with_valid_options(tmp_path, dreamer_run):
    with pytest.raises(UserError, match="does not exist"):
        compare_run([f"run={tmp_path / 'missing'}"])
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    with pytest.raises(UserError, match="no world_model.pt"):
        compare_run([f"run={tmp_path}"])
    with pytest.raises(UserError, match="valid: cem, mppi, random_shooting"):
        evaluate_run([f"checkpoint={dreamer_run}", "agent=dreamer"])
    with pytest.raises(UserError, match="planner settings .*horizon"):
        compare_run([f"run={dreamer_run}", "horizn=3"])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "worldmodels.evaluate", f"checkpoint={dreamer_run}", "agent=icem"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "worldmodels.evaluate: error: unknown agent 'icem'; valid: cem, mppi, random_shooting "
        "(a planner on the run's world model), or no agent= for the run's own agent"
    ]
