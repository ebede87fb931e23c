"""A Hydra multirun of several runs in one process: every run after the first must still run.

The console tee (worldmodels/logger/console_file.py) is sys.stderr during a run; dm_control's
import makes absl's logging handler keep it as its stream, and Hydra's logging reset before the
next job closes that handler's stream. The tee must not pass that close on to the real stderr
(it did: the second job died writing to a closed stderr, its status left at "running").
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from worldmodels.logger.console_file import ConsoleFile

ROOT = Path(__file__).resolve().parents[2]


def test_closing_the_tee_leaves_the_console_and_the_log_open(tmp_path, monkeypatch):
    console = io.StringIO()
    monkeypatch.setattr(sys, "stderr", console)
    with ConsoleFile() as tee:
        tee.open(tmp_path / "train.log")
        captured = sys.stderr  # what a handler made now would keep
        captured.close()
        print("still here", file=sys.stderr)
    assert not console.closed
    captured.write("after the run\n")  # the tee outlives its run: console only
    assert console.getvalue() == "still here\nafter the run\n"
    assert (tmp_path / "train.log").read_text() == "still here\n"


def test_a_multirun_of_dmc_runs_with_the_progress_bar_runs_every_job(tmp_path):
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "-m", "worldmodels.train", "-m", "agent=random", "env=dmc_proprio",
         "env.task=cartpole_balance", "trainer=debug", "device=cpu", "seed=0,1,2",
         f"hydra.sweep.dir={sweep}"],
        cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
        timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(runs) == 3
    for run in runs:
        status = json.loads((run / "status.json").read_text())
        assert status["state"] == "done" and status["env_frames"] == status["target_frames"]
        assert "eval/return_mean=" in (run / "train.log").read_text()
