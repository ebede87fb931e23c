"""scripts/device_check.sh (issue 15's one-call GPU checks) runs end to end on CPU at tiny sizes
and writes its results under $OUT."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_device_check_runs_on_cpu(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        ["bash", "scripts/device_check.sh", "--device", "cpu"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    proprio = (tmp_path / "proprio.txt").read_text()
    assert "grad steps/s" in proprio and "graph: skipped" in proprio
    assert "graph: skipped" in (tmp_path / "pixels.txt").read_text()
    assert "per env-action" in (tmp_path / "planner.txt").read_text()
    assert "passed" in (tmp_path / "tests.txt").read_text()  # the CUDA tests skip, the rest run
    assert (tmp_path / "train_run" / "metrics.jsonl").stat().st_size > 0  # the loop ran
    steps = (tmp_path / "steps.txt").read_text()
    assert steps.count("rc 0") == steps.count("== "), steps  # no step failed or timed out
