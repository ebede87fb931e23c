"""RUN_DIR/status.json: the run's state, frames, and who is writing it.

    {"state": "running" | "done" | "stopped" | "preempted" | "failed", "env_frames": N,
     "target_frames": M, "pid": P, "host": H, "started": T0, "heartbeat": T}

`heartbeat` is refreshed at least every HEARTBEAT_S seconds while the run is alive, so a reader
(the report, a second command on the same dir) can tell a live run from one killed without a
chance to say so: `is_alive(status)`.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"
#: Seconds between heartbeats of a live run.
HEARTBEAT_S = 30.0
#: A "running" status whose heartbeat is older than this belongs to a dead run.
DEAD_AFTER_S = 10 * HEARTBEAT_S


class StatusFile:
    """Writes status.json atomically (temp file + rename) for one process."""

    def __init__(self, run_dir: Path, target_frames: int):
        self.path = Path(run_dir) / STATUS_FILE
        self.target_frames = int(target_frames)
        self.started = time.time()
        self.last_write = 0.0

    def write(self, state: str, env_frames: int, **extra: Any) -> None:
        now = time.time()
        status = {
            "state": state,
            "env_frames": int(env_frames),
            "target_frames": self.target_frames,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": round(self.started, 3),
            "heartbeat": round(now, 3),
            **extra,
        }
        tmp = self.path.with_name(STATUS_FILE + ".tmp")
        tmp.write_text(json.dumps(status))
        os.replace(tmp, self.path)
        self.last_write = now

    def due(self) -> bool:
        """Whether a heartbeat is due."""
        return time.time() - self.last_write >= HEARTBEAT_S


def read_status(run_dir: Path) -> dict[str, Any]:
    """status.json as a dict ({} when missing or unreadable)."""
    try:
        status = json.loads((Path(run_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return status if isinstance(status, dict) else {}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def liveness(status: dict[str, Any], now: float | None = None) -> str:
    """For a "running" status: "alive" or "dead" (on this host: whether its pid exists, so a long
    checkpoint write is never taken for a death; elsewhere: a heartbeat within DEAD_AFTER_S), or
    "unknown" (an old status without pid/heartbeat)."""
    now = time.time() if now is None else now
    heartbeat, pid = status.get("heartbeat"), status.get("pid")
    if not isinstance(heartbeat, int | float) or not isinstance(pid, int):
        return "unknown"
    if status.get("host") == socket.gethostname():
        return "alive" if pid_alive(pid) else "dead"
    return "dead" if now - heartbeat > DEAD_AFTER_S else "alive"
