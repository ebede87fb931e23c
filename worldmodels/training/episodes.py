"""Episode returns and lengths of the training envs, from the rows the loop sees."""

from __future__ import annotations

from typing import Any

import numpy as np


class EpisodeTracker:
    """Sums rewards per env; at each `is_last` row reports `episode/return` and
    `episode/length` (rows after the first) and counts the episode."""

    def __init__(self, num_envs: int):
        self.ret = np.zeros(num_envs, np.float64)
        self.length = np.zeros(num_envs, np.int64)
        self.last_return = float("nan")
        self.count = 0

    def track(self, row: dict[str, np.ndarray]) -> list[dict[str, float]]:
        """The metrics of the episodes `row` ends (one dict each)."""
        first = row["is_first"]
        self.ret[first] = 0.0
        self.length[first] = 0
        self.ret += row["reward"]
        self.length += 1
        ended = []
        for i in np.flatnonzero(row["is_last"]):
            self.count += 1
            self.last_return = float(self.ret[i])
            ended.append(
                {"episode/return": self.last_return, "episode/length": float(self.length[i] - 1)}
            )
        return ended

    def state_dict(self) -> dict[str, Any]:
        return {"return": self.ret, "length": self.length, "last": self.last_return}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ret, self.length = state["return"], state["length"]
        self.last_return = state["last"]
