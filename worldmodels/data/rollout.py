"""The on-policy rollout buffer (PPO): num_steps + 1 rows per env, and GAE in the ROW convention.

Rows follow worldmodels.envs.spaces: row t holds obs_t, reward_t (for arriving at obs_t), the
flags and action_t. A rollout of T transitions needs T + 1 rows: the extra row holds the obs whose
value bootstraps the last transition (its action is not part of this rollout). `reset()` keeps
that row as row 0 of the next rollout, so no env step is lost.

The transition taken from row t (action_t) earns reward_{t+1}, continues with
cont_t = 1 - is_terminal_{t+1}, and stops the advantage trace at the episode's last row
(trace_t = 1 - is_last_{t+1}): a truncation bootstraps from v(obs_last), a termination from 0.
A row that is is_last carries no transition (the vector env reset instead of stepping): mask 0.

Two ways to feed it, both valid:
- act, then `add(row)` with the action (what the training loop does); the bootstrap row's action
  then comes from the pre-update policy and becomes row 0's action of the next rollout;
- `add(row)` without "action", update when `full`, `reset()`, act, `set_action(action)`: every
  action of a rollout then comes from the policy it is trained from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from worldmodels.data.replay import torch_dtype
from worldmodels.envs.spaces import ArraySpec
from worldmodels.objectives.returns import gae


class RolloutBuffer:
    """Preallocated rows [num_steps + 1, num_envs, ...] on `device` for every key of `spec`
    (worldmodels.envs.spaces.row_spec)."""

    def __init__(
        self,
        num_steps: int,
        num_envs: int,
        spec: Mapping[str, ArraySpec],
        device: str | torch.device = "cpu",
    ):
        if num_steps < 1 or num_envs < 1:
            raise ValueError(
                f"RolloutBuffer: need num_steps, num_envs >= 1, got {num_steps}, {num_envs}"
            )
        missing = [
            k for k in ("action", "reward", "is_first", "is_last", "is_terminal") if k not in spec
        ]
        if missing:
            raise ValueError(f"RolloutBuffer: spec lacks {missing}; build it with spaces.row_spec")
        self.num_steps = num_steps
        self.num_envs = num_envs
        self.spec = dict(spec)
        self.device = torch.device(device)
        self._data = {
            k: torch.zeros(
                (num_steps + 1, num_envs, *s.shape), dtype=torch_dtype(s.dtype), device=self.device
            )
            for k, s in self.spec.items()
        }
        self._size = 0
        self._action_pending = False

    @property
    def full(self) -> bool:
        """Whether all num_steps + 1 rows are written (time to update)."""
        return self._size == self.num_steps + 1

    def __len__(self) -> int:
        return self._size

    def add(self, row: Mapping[str, Any]) -> None:
        """Writes the next row: arrays/tensors [N, ...] per spec key (extra keys are ignored).
        "action" may be left out and given later with `set_action`."""
        if self.full:
            raise ValueError("RolloutBuffer.add: the buffer is full; update, then reset() it")
        if self._action_pending:
            raise ValueError(
                "RolloutBuffer.add: the previous row still lacks its action (set_action)"
            )
        missing = [k for k in self.spec if k not in row and k != "action"]
        if missing:
            raise ValueError(
                f"RolloutBuffer.add: row lacks keys {missing}; a row holds {sorted(self.spec)}"
            )
        for k, store in self._data.items():
            if k in row:
                store[self._size].copy_(self._check(k, row[k]))
        self._action_pending = "action" not in row
        self._size += 1

    def set_action(self, action: Any) -> None:
        """Sets the action [N, A] of the latest row (added without one)."""
        if self._size == 0:
            raise ValueError("RolloutBuffer.set_action: no row added yet")
        self._data["action"][self._size - 1].copy_(self._check("action", action))
        self._action_pending = False

    def rows(self) -> dict[str, torch.Tensor]:
        """All rows, [T+1, N, ...] per key (views: valid until the next add or reset)."""
        self._require_full("rows")
        return dict(self._data)

    def advantages(
        self, value: torch.Tensor, gamma: float, lam: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """GAE for the rollout's T transitions.

        value: [T+1, N], v(obs_t) of every row. Returns (advantages [T, N], returns [T, N] =
        advantages + value[:-1], mask [T, N] float: 1 for real transitions, 0 for is_last rows,
        where advantages and returns are 0).
        """
        self._require_full("advantages")
        expected = (self.num_steps + 1, self.num_envs)
        if tuple(value.shape) != expected:
            raise ValueError(
                f"RolloutBuffer.advantages: value has shape {tuple(value.shape)}, "
                f"expected {expected}"
            )
        dtype = value.dtype
        reward = self._data["reward"][1:].to(dtype)  # [T, N] reward_{t+1}
        cont = (~self._data["is_terminal"][1:]).to(dtype)  # [T, N]
        trace = (~self._data["is_last"][1:]).to(dtype)  # [T, N]
        mask = (~self._data["is_last"][:-1]).to(dtype)  # [T, N]
        adv = gae(reward, value, cont, gamma, lam, trace=trace) * mask
        return adv, (adv + value[:-1]) * mask, mask

    def reset(self) -> None:
        """Starts the next rollout with the latest row as its row 0."""
        if self._size > 0:
            for store in self._data.values():
                store[0] = store[self._size - 1]
            self._size = 1

    def state_dict(self) -> dict[str, Any]:
        """The rows written so far (a checkpoint mid-rollout resumes exactly)."""
        return {
            "data": {k: v[: self._size].clone() for k, v in self._data.items()},
            "size": self._size,
            "action_pending": self._action_pending,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state["data"].items():
            self._data[k][: len(v)] = v.to(self.device)
        self._size, self._action_pending = int(state["size"]), bool(state["action_pending"])

    def _check(self, key: str, x: Any) -> torch.Tensor:
        expected = (self.num_envs, *self.spec[key].shape)
        if tuple(x.shape) != expected:
            raise ValueError(
                f"RolloutBuffer: {key!r} has shape {tuple(x.shape)}, expected {expected}"
            )
        return torch.as_tensor(x)  # copy_ into the store converts device and dtype in one op

    def _require_full(self, name: str) -> None:
        if not self.full:
            raise ValueError(
                f"RolloutBuffer.{name}: holds {self._size} of {self.num_steps + 1} rows; "
                "add more first"
            )
