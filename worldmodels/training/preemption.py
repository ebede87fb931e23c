"""SIGTERM / SIGINT (timeout, scancel, preemption, Ctrl-C) end a run at its next safe point with
a checkpoint, instead of killing it mid-step.

The handler only records the signal; the loop checks `requested` between env steps. A second
signal means "now": it raises `Preempted` wherever the process is (a checkpoint being written is
atomic, so the previous one stays whole).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from worldmodels.errors import Preempted

SIGNALS = (signal.SIGTERM, signal.SIGINT)
__all__ = ["Preempted", "StopSignals"]


class StopSignals:
    """Context manager installing the handlers (main thread only; elsewhere a no-op)."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:
            raise Preempted(signum)
        self.requested = signum
        print(
            f"\nreceived {signal.Signals(signum).name}: stopping at the next safe point with a "
            "checkpoint (send it again to stop at once)",
            flush=True,
        )

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
