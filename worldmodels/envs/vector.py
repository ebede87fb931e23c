"""N envs stepped together, emitting ROW batches (see spaces.py for the row contract).

Built on gymnasium's vector envs with autoreset mode NEXT_STEP: after an env reports the end of an
episode, its next `step` ignores the action and returns the reset observation with reward 0 and no
termination. That is exactly an `is_first` row, so the only bookkeeping here is remembering which
envs ended on the previous step. Auto-reset happens in one place (gymnasium), once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from worldmodels.envs.spaces import ActSpec, ArraySpec, ObsSpec
from worldmodels.errors import RunFailed

Row = dict[str, np.ndarray]
F = TypeVar("F", bound=Callable[..., Any])
#: What talking to a dead worker process raises.
_DEAD_WORKER = (BrokenPipeError, EOFError, ConnectionResetError)


class EnvWorkerError(RunFailed):
    """An env worker process died (killed, out of memory): the run cannot go on."""


def _worker_guard(method: F) -> F:
    """Turns a dead worker's pipe error into EnvWorkerError naming the worker(s)."""

    @functools.wraps(method)
    def wrapper(self: VecEnv, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except _DEAD_WORKER as err:
            raise EnvWorkerError(
                f"env worker process died ({self._dead_workers()}; {type(err).__name__}); "
                "the run stops, its last checkpoint is kept (resume=true continues)"
            ) from err

    return wrapper  # type: ignore[return-value]


def obs_spec_of(space: gym.Space) -> ObsSpec:
    """ObsSpec of a single env's Dict observation space."""
    assert isinstance(space, spaces.Dict), space
    out: ObsSpec = {}
    for key, sub in space.spaces.items():
        assert isinstance(sub, spaces.Box), (key, sub)
        out[key] = ArraySpec(tuple(int(d) for d in sub.shape), np.dtype(sub.dtype).name)
    return out


def act_spec_of(space: gym.Space) -> ActSpec:
    """ActSpec of a single env's action space: Discrete(n) -> n one-hot, Box -> dims in [-1, 1]."""
    if isinstance(space, spaces.Discrete):
        return ActSpec(int(space.n), discrete=True)
    assert isinstance(space, spaces.Box) and len(space.shape) == 1, space
    return ActSpec(int(space.shape[0]), discrete=False)


class VecEnv:
    """`num_envs` envs in worker processes (asynchronous) or in this process, as ROW batches.

    `reset()` returns a first row per env; `step(action)` takes float32 actions [N, A] (one-hot
    for discrete spaces) and returns the next rows [N, ...]: the observation keys plus
    "reward" float32 [N], "is_first", "is_last", "is_terminal" bool [N].
    Env i is seeded with seed + i on the first reset, or on `reset(seed)`.
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        seed: int,
        asynchronous: bool = True,
        context: str | None = None,
        action_repeat: int = 1,
    ):
        self._venv: AsyncVectorEnv | SyncVectorEnv
        if asynchronous:
            self._venv = AsyncVectorEnv(
                env_fns, context=context, autoreset_mode=AutoresetMode.NEXT_STEP
            )
        else:
            self._venv = SyncVectorEnv(env_fns, autoreset_mode=AutoresetMode.NEXT_STEP)
        self.num_envs = len(env_fns)
        self.obs_spec: ObsSpec = obs_spec_of(self._venv.single_observation_space)
        self.act_spec: ActSpec = act_spec_of(self._venv.single_action_space)
        #: Env frames per policy step (for frame counters); episodes may end mid-repeat.
        self.action_repeat = action_repeat
        act_space = self._venv.single_action_space
        self._act_start = int(act_space.start) if isinstance(act_space, spaces.Discrete) else 0
        self._seed = seed
        self._ended: np.ndarray | None = None  # [N] bool: env's last row was is_last
        self._closed = False

    def _dead_workers(self) -> str:
        procs = getattr(self._venv, "processes", [])
        dead = [(i, p.exitcode) for i, p in enumerate(procs) if p.exitcode is not None]
        return ", ".join(f"worker {i} exit code {code}" for i, code in dead) or "no exit code yet"

    @_worker_guard
    def reset(self, seed: int | None = None) -> Row:
        """Reset all envs; returns first rows [N, ...] (reward 0, is_first True)."""
        if seed is None and self._ended is None:
            seed = self._seed
        obs, _ = self._venv.reset(seed=seed)
        n = self.num_envs
        self._ended = np.zeros(n, bool)
        return self._row(
            obs, np.zeros(n, np.float32), np.ones(n, bool), self._ended, np.zeros(n, bool)
        )

    @_worker_guard
    def step(self, action: np.ndarray) -> Row:
        """Step with float32 actions [N, A]; envs whose last row was is_last reset instead."""
        if self._ended is None:
            raise RuntimeError("VecEnv.step() called before reset()")
        action = np.asarray(action)
        expected = (self.num_envs, self.act_spec.dim)
        if action.shape != expected:
            raise ValueError(f"action shape {action.shape}, expected [N, A] = {list(expected)}")
        if self.act_spec.discrete:
            env_action = action.argmax(-1).astype(np.int64) + self._act_start  # [N]
        else:
            env_action = action.astype(np.float32)  # [N, A]
        obs, reward, terminated, truncated, _ = self._venv.step(env_action)
        is_first = self._ended
        is_last = np.logical_or(terminated, truncated)
        self._ended = is_last
        return self._row(
            obs, np.asarray(reward, np.float32), is_first, is_last, np.asarray(terminated, bool)
        )

    @staticmethod
    def _row(
        obs: dict[str, np.ndarray],
        reward: np.ndarray,
        is_first: np.ndarray,
        is_last: np.ndarray,
        is_terminal: np.ndarray,
    ) -> Row:
        row = dict(obs)
        row.update(
            reward=reward,
            is_first=is_first.copy(),
            is_last=is_last.copy(),
            is_terminal=is_terminal.copy(),
        )
        return row

    @_worker_guard
    def get_rng_state(self) -> list[Any]:
        """Each env's random state (picklable), for checkpoints. With `set_rng_state` after a
        `reset(seed)`, the next resets draw the same episodes as the saved envs would have."""
        return list(self._venv.get_attr("rng_state"))

    @_worker_guard
    def set_rng_state(self, states: Sequence[Any]) -> None:
        """Restore the states from `get_rng_state` (one per env)."""
        if len(states) != self.num_envs:
            raise ValueError(f"got {len(states)} env RNG states for {self.num_envs} envs")
        self._venv.set_attr("rng_state", list(states))

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        if not self._closed:
            self._closed = True
            procs = getattr(self._venv, "processes", [])
            if any(p.exitcode is not None for p in procs):  # a worker died: stop the others
                for proc in procs:  # without asking them (they ignore SIGTERM: see make.py)
                    if proc.is_alive():
                        proc.kill()
                    proc.join(timeout=5)
                return
            self._venv.close()

    def __enter__(self) -> VecEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
