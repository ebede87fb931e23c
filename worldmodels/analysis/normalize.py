"""Per-task score normalization, so that scores of different tasks can be aggregated.

score = (return - min) / (max - min), with (min, max) looked up by "suite/task" in a table of
fnmatch patterns (the user's entries first, then the defaults below):

- dm_control: every task's return lies in [0, 1000] (reward in [0, 1] for 1000 steps), so
  score = return / 1000 (the convention of the DreamerV3/DrQ-v2 papers and rliable).
- gymnasium classic control: random-policy return -> 0, best achievable -> 1 (CartPole-v1
  [0, 500] as episodes are capped at 500 steps; Pendulum-v1's random policy scores about -1200).
- the dummy test envs: [0, best possible return].

A task with no entry keeps its raw return and is reported as `unnormalized`; a YAML file with
`"suite/task_pattern": [min, max]` entries extends the table (`--normalizer FILE`).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import yaml

Bounds = tuple[float, float]

DEFAULT_NORMALIZERS: dict[str, Bounds] = {
    "dmc/*": (0.0, 1000.0),
    "dm_control/*": (0.0, 1000.0),
    "dmc_vision/*": (0.0, 1000.0),
    "dmc_proprio/*": (0.0, 1000.0),
    "gym/CartPole-v1": (0.0, 500.0),
    "gym/CartPole-v0": (0.0, 200.0),
    "gym/Pendulum-v1": (-1200.0, 0.0),
    "gym/Acrobot-v1": (-500.0, 0.0),
    "gym/MountainCar-v0": (-200.0, 0.0),
    # Test envs (worldmodels/envs/dummy.py): reach pays at most 1 per step for 30 steps.
    "dummy/reach": (0.0, 30.0),
    "dummy/reach_discrete": (0.0, 30.0),
    "dummy/bandit": (0.0, 1.0),
}


class Normalizer:
    """Maps (suite, task, raw return) to a normalized score; `None` bounds mean 'keep raw'."""

    def __init__(self, table: dict[str, Bounds] | None = None, enabled: bool = True):
        self.table = {**DEFAULT_NORMALIZERS, **(table or {})}
        # User entries come first so they win over the defaults for the same task.
        self.order = list(table or {}) + [k for k in DEFAULT_NORMALIZERS if k not in (table or {})]
        self.enabled = enabled

    def bounds(self, suite: str, task: str) -> Bounds | None:
        """(min, max) for this task, or None when no pattern matches (or normalization is off)."""
        if not self.enabled:
            return None
        name = f"{suite}/{task}"
        for pattern in self.order:
            if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(task, pattern):
                return self.table[pattern]
        return None

    def __call__(self, suite: str, task: str, value: float) -> float:
        b = self.bounds(suite, task)
        if b is None:
            return value
        lo, hi = b
        return (value - lo) / (hi - lo)


def load_normalizer_table(path: str | Path) -> dict[str, Bounds]:
    """Read a YAML mapping of 'suite/task' fnmatch patterns (or bare task names) to [min, max]."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"normalizer file {str(path)!r} does not exist")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"normalizer file {path}: expected a mapping 'suite/task': [min, max]")
    table: dict[str, Bounds] = {}
    for key, value in data.items():
        ok = isinstance(value, list | tuple) and len(value) == 2
        if not ok or not all(isinstance(v, int | float) for v in value) or value[0] == value[1]:
            raise ValueError(
                f"normalizer file {path}: entry {key!r} must be [min, max] with min != max, "
                f"got {value!r}"
            )
        table[str(key)] = (float(value[0]), float(value[1]))
    return table
