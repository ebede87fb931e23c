"""The one store interface the training loop talks to, built once from the agent's data spec.

Every env step the loop calls, in this order (no branch on what the agent samples):

    for batch in store.before_act(row): agent.update(batch)   # on-policy: a full rollout
    if store.random_action(env_frames): act at random         # replay prefill
    store.add(row, action, extras)                             # the row the agent acted on
    for batch in store.batches(env_frames, policy_steps): agent.update(batch)  # replay: the ratio

`ReplayStore` (sequences or n-step transitions from data/replay.py, at a train ratio after a
prefill; agents that never update, kind "none", keep their rows there too, for later use) and
`RolloutStore` (the on-policy rollout buffer, data/rollout.py: every action of a rollout comes
from the policy it is trained from) are the implementations; `make_store` picks one from the data
spec. Checkpoints hold `state_dict()` (clocks, a rollout in progress); `save(dir)` and
`restore(dir)` move the bulk rows (the replay) beside them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from worldmodels.data.replay import Replay
from worldmodels.data.rollout import RolloutBuffer


class DataSpecLike(Protocol):
    """What a store reads of the agent's data spec (worldmodels.agents.base.DataSpec)."""

    @property
    def kind(self) -> str: ...
    @property
    def batch(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def n_step(self) -> int: ...
    @property
    def gamma(self) -> float: ...
    @property
    def context(self) -> int: ...
    @property
    def extras(self) -> Mapping[str, Any]: ...
    @property
    def prefill_policy(self) -> bool: ...
    @property
    def replayed_per_update(self) -> int: ...


class UpdateClock(Protocol):
    """Updates due at a policy step (worldmodels.training.clocks.Ratio), with its state."""

    def __call__(self, step: int) -> int: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class StoreRestoreError(ValueError):
    """A checkpoint's bulk rows cannot be restored (missing, unreadable)."""


class Store(ABC):
    """See the module docstring."""

    #: rows one update consumes (the unit of the measured train ratio)
    rows_per_update: int = 0

    def before_act(self, row: Mapping[str, Any]) -> Iterable[Any]:
        """Batches to update on before the agent acts on `row` (the row without its action)."""
        return ()

    def random_action(self, env_frames: int) -> bool:
        """Whether the loop acts at random now (a replay's prefill) instead of asking the agent."""
        return False

    @abstractmethod
    def add(self, row: Mapping[str, Any], action: np.ndarray, extras: Mapping[str, Any]) -> None:
        """Records the row the agent just acted on, its action [N, A] and per-row extras."""

    def batches(self, env_frames: int, policy_steps: int) -> Iterable[Any]:
        """Batches due for updates after the step."""
        return ()

    def write_back(  # noqa: B027 (optional hook)
        self, batch: Any, fresh: Mapping[str, torch.Tensor] | None
    ) -> None:
        """Stores an agent's recomputed per-row entries for the rows of `batch` (replay context)."""

    def train_start(self, policy_steps: int) -> int:
        """The policy step the measured train ratio counts from, given the first update's."""
        return policy_steps

    def video_batch(self) -> dict[str, torch.Tensor] | None:
        """A few sequences for an open-loop video prediction, or None."""
        return None

    def end_episodes(self) -> None:  # noqa: B027 (optional hook)
        """Episodes in progress end here (a resume that cannot continue them)."""

    def state_dict(self) -> dict[str, Any]:
        """Small state for the checkpoint file (clocks, a rollout in progress)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Inverse of `state_dict`."""

    @property
    def has_files(self) -> bool:
        """Whether `save` writes bulk rows beside the checkpoint."""
        return False

    def save(self, path: Path) -> None:  # noqa: B027 (optional hook)
        """Writes the bulk rows to the dir `path`."""

    def restore(self, path: Path | None) -> None:  # noqa: B027 (optional hook)
        """Reads the bulk rows `save` wrote to `path`; StoreRestoreError when they are missing
        (None) or unreadable."""

    def extra_checkpoint_state(self) -> dict[str, Any]:
        """Entries the entry point reads back before the store is built (the replay capacity)."""
        return {}


class ReplayStore(Store):
    """The shared replay: sequences [B, T] or n-step transitions, `clock` updates per policy step
    after `prefill` env frames (random actions until then unless the agent prefills itself).
    Kind "none" only keeps the rows (no prefill, no batches)."""

    def __init__(self, replay: Replay, spec: DataSpecLike, clock: UpdateClock, prefill: int):
        if spec.kind not in ("sequences", "transitions", "none"):
            raise ValueError(f"ReplayStore samples sequences or transitions, not {spec.kind!r}")
        self.replay, self.spec, self.clock, self.prefill = replay, spec, clock, int(prefill)
        self.rows_per_update = spec.replayed_per_update
        self.samples = spec.kind != "none"

    def random_action(self, env_frames: int) -> bool:
        return self.samples and env_frames < self.prefill and not self.spec.prefill_policy

    def add(self, row: Mapping[str, Any], action: np.ndarray, extras: Mapping[str, Any]) -> None:
        self.replay.add({**row, "action": action, **extras})

    def can_sample(self) -> bool:
        if not self.samples:
            return False
        if self.spec.kind == "sequences":
            return self.replay.can_sample_sequences(self.spec.length)
        return self.replay.can_sample_transitions(self.spec.n_step)

    def sample(self) -> dict[str, Any]:
        """One batch of what the agent samples."""
        spec = self.spec
        if spec.kind == "sequences":
            return self.replay.sample_sequences(spec.batch, spec.length, bool(spec.extras))
        return self.replay.sample_transitions(spec.batch, spec.n_step, spec.gamma)

    def batches(self, env_frames: int, policy_steps: int) -> Iterator[dict[str, Any]]:
        if env_frames < self.prefill or not self.can_sample():
            return
        for _ in range(self.clock(policy_steps)):
            yield self.sample()

    def write_back(self, batch: Any, fresh: Mapping[str, torch.Tensor] | None) -> None:
        if fresh:
            self.replay.write(batch["index"][:, self.spec.context :], fresh)

    def video_batch(self) -> dict[str, torch.Tensor] | None:
        if self.spec.kind != "sequences" or not self.can_sample():
            return None
        return self.replay.sample_sequences(min(4, self.spec.batch), self.spec.length)

    def end_episodes(self) -> None:
        self.replay.mark_last()

    def state_dict(self) -> dict[str, Any]:
        return {"clock": self.clock.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.clock.load_state_dict(state["clock"])

    @property
    def has_files(self) -> bool:
        return True

    def save(self, path: Path) -> None:
        self.replay.save(path)

    def restore(self, path: Path | None) -> None:
        if path is None or not Path(path).exists():
            raise StoreRestoreError(f"the replay is missing ({path})")
        self.replay.load(path)  # ValueError (one line) when unreadable

    def extra_checkpoint_state(self) -> dict[str, Any]:
        return {"replay_capacity": self.replay.capacity}


class RolloutStore(Store):
    """The on-policy rollout buffer: a row is added before the agent acts on it, the update comes
    when the rollout is full, then the action is set, so every action of a rollout comes from
    the policy it is trained from."""

    def __init__(self, buffer: RolloutBuffer):
        self.buffer = buffer
        self.rows_per_update = buffer.num_steps * buffer.num_envs

    def before_act(self, row: Mapping[str, Any]) -> Iterator[RolloutBuffer]:
        self.buffer.add(row)
        if self.buffer.full:
            yield self.buffer
            self.buffer.reset()

    def add(self, row: Mapping[str, Any], action: np.ndarray, extras: Mapping[str, Any]) -> None:
        self.buffer.set_action(action)

    def train_start(self, policy_steps: int) -> int:
        return 0  # every step collects for the first rollout

    def state_dict(self) -> dict[str, Any]:
        return {"rollout": self.buffer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer.load_state_dict(state["rollout"])


def make_store(
    spec: DataSpecLike,
    row_spec: Mapping[str, Any],
    num_envs: int,
    device: torch.device,
    *,
    capacity: int,
    clock: UpdateClock,
    prefill: int,
    replay_options: Mapping[str, Any],
) -> Store:
    """The store for an agent's data spec: the rollout buffer (kind "rollouts") or the replay
    (any other kind: `capacity` rows, `replay_options` for data/replay.Replay)."""
    if spec.kind == "rollouts":
        return RolloutStore(RolloutBuffer(spec.length, num_envs, row_spec, device))
    replay = Replay(
        row_spec, capacity, num_envs, device=device, extras=tuple(spec.extras), **replay_options
    )
    print(replay.describe(), flush=True)
    return ReplayStore(replay, spec, clock, prefill)
