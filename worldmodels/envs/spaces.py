"""Specs of what environments emit and accept, shared by envs, replay, loop and agents.

The step contract (one *row* per env per step, dreamerv3's layout):

    row t = obs_t (dict: "image" uint8 [H, W, C] and/or "vector" float32 [D]),
            reward_t    the reward received on arriving at obs_t (0 on an episode's first row),
            is_first_t  obs_t is an episode's first observation (after a reset),
            is_last_t   obs_t is an episode's last observation (termination or truncation),
            is_terminal_t  obs_t is a true termination (bootstrap with 0); is_last without
                        is_terminal is a truncation (bootstrap from the value),
            action_t    the action the agent took at obs_t (added by the loop; meaningless on
                        is_last rows, where the vector env resets instead of stepping).

Actions are float32 vectors everywhere in the pipeline: continuous actions in [-1, 1]^A, discrete
actions one-hot over A choices (the env wrapper turns one-hot into an index).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Keys of a row besides the observations and the action.
STEP_KEYS: tuple[str, ...] = ("reward", "is_first", "is_last", "is_terminal")
#: Observation keys the pipeline knows: pixels and a flat proprio/state vector.
IMAGE_KEY = "image"
VECTOR_KEY = "vector"


@dataclass(frozen=True)
class ArraySpec:
    """Shape (per env, without batch dims) and numpy dtype name of one array."""

    shape: tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


#: Observation spec: key ("image", "vector") -> ArraySpec. Images are uint8 HWC.
ObsSpec = dict[str, ArraySpec]


@dataclass(frozen=True)
class ActSpec:
    """Action space: `dim` continuous dims in [-1, 1], or `dim` discrete choices sent one-hot."""

    dim: int
    discrete: bool


def row_spec(obs_spec: ObsSpec, act_spec: ActSpec) -> dict[str, ArraySpec]:
    """Spec of a full replay row: observations, action, reward and the three flags."""
    spec = dict(obs_spec)
    spec["action"] = ArraySpec((act_spec.dim,), "float32")
    spec["reward"] = ArraySpec((), "float32")
    for k in ("is_first", "is_last", "is_terminal"):
        spec[k] = ArraySpec((), "bool")
    return spec


def sample_actions(act_spec: ActSpec, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random actions [B, A] in the pipeline's format (prefill, random agent)."""
    if act_spec.discrete:
        out = np.zeros((batch, act_spec.dim), np.float32)
        out[np.arange(batch), rng.integers(act_spec.dim, size=batch)] = 1.0
        return out
    return rng.uniform(-1.0, 1.0, size=(batch, act_spec.dim)).astype(np.float32)
