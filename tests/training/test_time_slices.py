"""Defect 9: the README's time-sliced workflow through `python -m worldmodels.train` in a fresh
working dir (Hydra's own run dir, runs/<overrides>): stop_after is not part of the run-dir name,
a slice with nothing left to do says so, resume=PATH needs no quotes, resume=last works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

COMMAND = ["agent=random", "env=dummy", "trainer=debug", "device=cpu", "logger.progress=false"]
RUN = Path("runs") / "agent=random,env=dummy,trainer=debug"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "worldmodels.train", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _status(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def test_9_time_sliced_workflow(tmp_path):
    run_dir = tmp_path / RUN
    first = _cli(*COMMAND, "trainer.stop_after=80", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert _status(run_dir)["state"] == "stopped" and _status(run_dir)["env_frames"] == 80

    # the same slice again: nothing to do, and it says so
    again = _cli(*COMMAND, "trainer.stop_after=80", "resume=true", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already at 80 frames (trainer.stop_after=80), nothing to do" in again.stdout

    # the README's own example, unquoted: resume=runs/<a name holding = and ,>
    second = _cli(f"resume={RUN}", "trainer.stop_after=120", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert _status(run_dir)["env_frames"] == 120

    last = _cli("resume=last", cwd=tmp_path)  # the newest run, to the end of its budget
    assert last.returncode == 0, last.stderr[-2000:]
    assert f"resume=last: {RUN}" in last.stdout
    assert _status(run_dir)["state"] == "done" and _status(run_dir)["env_frames"] == 160
    frames = [json.loads(line)["env_frames"] for line in (run_dir / "metrics.jsonl").open()]
    assert frames == sorted(frames) and frames[-1] == 160
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [RUN.name]
