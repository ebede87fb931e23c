"""Tiny deterministic environments (numpy only) for fast tests and small learning checks.

Tasks (`suite: dummy`, `task: <name>`), each with observations "image" (uint8 [S, S, 3]) and/or
"vector" (float32) and episodes drawn from the env's `np_random`, so a seed fixes them:

- `reach`: a point x on [-1, 1] and a goal g, both uniform at reset; a continuous action a in
  [-1, 1] moves x by 0.2 a (clipped to the line); reward 1 - |x - g| after the move (in [-1, 1]);
  30 steps, then truncation (never terminal). vector = [x, g]; the image draws g as a green column
  over the full height and x as a red block in the middle rows, anti-aliased so sub-pixel
  positions show.
- `reach_discrete`: the same with 3 discrete actions: 0 = left, 1 = stay, 2 = right (steps of 0.2).
- `bandit`: a cue c in {0, 1} (vector one-hot [2]; image: the left or right half lit); one step
  with 2 discrete actions, reward 1 when the action equals c, then a true termination (the
  terminal observation is blank).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from worldmodels.envs.spaces import IMAGE_KEY, VECTOR_KEY

OBS_MODES = ("pixels", "proprio", "both")


class DummyEnv(gym.Env):
    """Base: builds the Dict observation space from the obs mode and the image size."""

    metadata: dict[str, Any] = {"render_modes": []}
    vector_dim: int

    def __init__(self, obs: str = "both", image_size: int = 16):
        if obs not in OBS_MODES:
            raise ValueError(f"unknown obs mode {obs!r}; valid: {', '.join(OBS_MODES)}")
        if image_size < 4:
            raise ValueError(f"image_size must be >= 4 for dummy envs, got {image_size}")
        self._pixels = obs in ("pixels", "both")
        self._vector = obs in ("proprio", "both")
        self._size = image_size
        obs_spaces: dict[str, spaces.Space] = {}
        if self._pixels:
            obs_spaces[IMAGE_KEY] = spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
        if self._vector:
            obs_spaces[VECTOR_KEY] = spaces.Box(-1.0, 1.0, (self.vector_dim,), np.float32)
        self.observation_space = spaces.Dict(obs_spaces)

    def _obs(self, vector: np.ndarray, draw: Any) -> dict[str, np.ndarray]:
        obs: dict[str, np.ndarray] = {}
        if self._pixels:
            image = np.zeros((self._size, self._size, 3), np.uint8)  # [S, S, 3]
            draw(image)
            obs[IMAGE_KEY] = image
        if self._vector:
            obs[VECTOR_KEY] = vector.astype(np.float32)
        return obs


def _coverage(pos: float, size: int, width: float) -> np.ndarray:
    """Fraction of each of `size` pixel columns covered by a box of `width` px centred at pos.

    pos in [-1, 1] maps to the centre of column 0 .. size-1; partial coverage anti-aliases.
    """
    centre = (pos + 1.0) / 2.0 * (size - 1)
    cols = np.arange(size, dtype=np.float64)
    return np.clip(width / 2.0 + 0.5 - np.abs(cols - centre), 0.0, 1.0)  # [S]


class ReachEnv(DummyEnv):
    """1-D reach: move a point to a goal. Continuous (A=1) or 3 discrete actions."""

    vector_dim = 2
    length = 30
    speed = 0.2

    def __init__(self, obs: str = "both", image_size: int = 16, discrete: bool = False):
        super().__init__(obs, image_size)
        self._discrete = discrete
        self.action_space: spaces.Space = (
            spaces.Discrete(3) if discrete else spaces.Box(-1.0, 1.0, (1,), np.float32)
        )
        self._x = self._goal = 0.0
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._x, self._goal = (float(v) for v in self.np_random.uniform(-1.0, 1.0, size=2))
        self._t = 0
        return self._observe(), {}

    def step(self, action: Any):
        if self._discrete:
            move = float(int(action) - 1)
        else:
            move = float(np.clip(np.asarray(action, np.float64).reshape(-1)[0], -1.0, 1.0))
        self._x = float(np.clip(self._x + self.speed * move, -1.0, 1.0))
        self._t += 1
        reward = 1.0 - abs(self._x - self._goal)
        return self._observe(), reward, False, self._t >= self.length, {}

    def _observe(self) -> dict[str, np.ndarray]:
        size = self._size

        def draw(image: np.ndarray) -> None:
            goal = _coverage(self._goal, size, max(1.0, size / 16))  # [S]
            image[:, :, 1] = (255 * goal).astype(np.uint8)[None, :]
            point = _coverage(self._x, size, max(2.0, size / 8))  # [S]
            rows = slice(size // 4, size - size // 4)
            image[rows, :, 0] = (255 * point).astype(np.uint8)[None, :]

        return self._obs(np.array([self._x, self._goal]), draw)


class BanditEnv(DummyEnv):
    """Contextual bandit: act on the cue once, reward 1 when right, then terminal."""

    vector_dim = 2

    def __init__(self, obs: str = "both", image_size: int = 16):
        super().__init__(obs, image_size)
        self.action_space = spaces.Discrete(2)
        self._cue = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._cue = int(self.np_random.integers(2))
        half = self._size // 2

        def draw(image: np.ndarray) -> None:
            cols = slice(0, half) if self._cue == 0 else slice(half, self._size)
            image[:, cols] = 255

        return self._obs(np.eye(2)[self._cue], draw), {}

    def step(self, action: Any):
        reward = 1.0 if int(action) == self._cue else 0.0
        return self._obs(np.zeros(2), lambda image: None), reward, True, False, {}


#: Task name -> constructor(obs, image_size).
TASKS: dict[str, Callable[[str, int], gym.Env]] = {
    "reach": lambda obs, size: ReachEnv(obs, size, discrete=False),
    "reach_discrete": lambda obs, size: ReachEnv(obs, size, discrete=True),
    "bandit": BanditEnv,
}


def check_task(task: str) -> None:
    """ValueError listing the valid dummy tasks when `task` is not one."""
    if task not in TASKS:
        raise ValueError(f"unknown dummy task {task!r}; valid: {', '.join(TASKS)}")


def make_dummy_env(task: str, obs: str, image_size: int) -> gym.Env:
    """Build one dummy env (validated names)."""
    check_task(task)
    return TASKS[task](obs, image_size)
