"""Clocks that decide when the loop logs, evaluates, checkpoints and trains (dreamerv3's `when`).

All clocks are plain host-side counters, saved in checkpoints for exact resume.
"""

from __future__ import annotations

from typing import Any


class Every:
    """Fires each time `step` has advanced by `every` since it last fired (never if every <= 0)."""

    def __init__(self, every: int):
        self.every = int(every)
        self.last = 0

    def __call__(self, step: int) -> bool:
        if self.every <= 0:
            return False
        if step >= self.last + self.every:
            self.last += (step - self.last) // self.every * self.every
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"last": self.last}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last = state["last"]


class Ratio:
    """How many updates are due so that updates / steps tracks `ratio` (fractional ratios work:
    0.25 means one update every 4 steps). The first call starts the clock and grants one update."""

    def __init__(self, ratio: float):
        if ratio < 0:
            raise ValueError(f"train ratio must be >= 0, got {ratio}")
        self.ratio = float(ratio)
        self.prev: float | None = None

    def __call__(self, step: int) -> int:
        if self.ratio == 0:
            return 0
        if self.prev is None:
            self.prev = float(step)
            return 1
        repeats = int((step - self.prev) * self.ratio)
        self.prev += repeats / self.ratio
        return repeats

    def state_dict(self) -> dict[str, Any]:
        return {"prev": self.prev}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.prev = state["prev"]
