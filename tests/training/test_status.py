"""status.json liveness: the pid on this host, the heartbeat elsewhere; the report's states."""

from __future__ import annotations

import json
import os
import time

from worldmodels.analysis.runs import load_run
from worldmodels.training.status import DEAD_AFTER_S, StatusFile, liveness


def test_liveness_by_pid_here_and_by_heartbeat_elsewhere(tmp_path):
    StatusFile(tmp_path, 100).write("running", 10)
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["pid"] == os.getpid() and liveness(status) == "alive"
    old = time.time() - 2 * DEAD_AFTER_S
    assert liveness({**status, "heartbeat": old}) == "alive"  # this host: the pid decides
    assert liveness({**status, "pid": 2**22 + 12345}) == "dead"  # no such pid
    elsewhere = {**status, "host": "another-node"}
    assert liveness(elsewhere) == "alive"
    assert liveness({**elsewhere, "heartbeat": old}) == "dead"
    assert liveness({"state": "running", "env_frames": 3}) == "unknown"  # an old status file


def test_report_states_for_preempted_and_dead_runs(tmp_path):
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "metrics.jsonl").write_text('{"env_frames": 10}\n')
    StatusFile(tmp_path, 100).write("preempted", 10)
    run, issues = load_run(tmp_path)
    assert run.state == "preempted" and any("preempted at 10" in i.detail for i in issues)
    status = json.loads((tmp_path / "status.json").read_text())
    status.update(state="running", pid=2**22 + 12345)
    (tmp_path / "status.json").write_text(json.dumps(status))
    run, issues = load_run(tmp_path)
    assert run.state == "dead" and any("died at 10" in i.detail for i in issues)
