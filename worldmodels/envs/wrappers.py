"""Single-env wrappers shared by the suites: dict observations, pixels, action repeat.

The stack make.py builds (inner to outer), so that the time limit counts env frames and pixels are
rendered once per policy step, not once per repeated frame:

    base env (dict obs "vector") -> actions to [-1, 1] -> TimeLimit(frames) -> ActionRepeat
        -> PixelObs ("image", rendered after the repeat)

Time limits and action rescaling come from gymnasium (TimeLimit, RescaleAction, TransformAction).
Every wrapper here follows gymnasium's wrapper conventions: it records its constructor arguments
(`gymnasium.utils.RecordConstructorArgs`), so `env.spec` lists the stack and `gym.make(env.spec)`
rebuilds it (gymnasium's `check_env` does exactly that for registered ids).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from worldmodels.envs.spaces import IMAGE_KEY, VECTOR_KEY

Obs = dict[str, np.ndarray]


class ActionRepeat(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Repeat each action `repeat` times, summing rewards; stop early when the episode ends."""

    def __init__(self, env: gym.Env, repeat: int):
        gym.utils.RecordConstructorArgs.__init__(self, repeat=repeat)
        gym.Wrapper.__init__(self, env)
        if repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {repeat}")
        self.repeat = repeat

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        total = 0.0
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class VectorObs(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """A Box observation flattened to {"vector": float32 [D]}; a Discrete one becomes one-hot."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if isinstance(space, spaces.Box):
            dim = int(np.prod(space.shape))
            self._onehot = 0
        elif isinstance(space, spaces.Discrete):
            dim = self._onehot = int(space.n)
            self._start = int(space.start)
        else:
            raise ValueError(
                f"proprio observations need a Box or Discrete observation space, got {space}"
            )
        self.observation_space = spaces.Dict(
            {VECTOR_KEY: spaces.Box(-np.inf, np.inf, (dim,), np.float32)}
        )

    def observation(self, observation: Any) -> Obs:
        if self._onehot:
            vec = np.zeros(self._onehot, np.float32)
            vec[int(observation) - self._start] = 1.0
        else:
            vec = np.asarray(observation, np.float32).reshape(-1)
        return {VECTOR_KEY: vec}


class PixelObs(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Adds "image" (uint8 [S, S, 3]) from `render()`; keeps the inner "vector" when asked.

    `render` is called once per outer step (after action repeat), so intermediate frames of a
    repeated action are never rendered.
    """

    def __init__(
        self, env: gym.Env, render: Callable[[], np.ndarray], size: int, keep_vector: bool
    ):
        gym.utils.RecordConstructorArgs.__init__(
            self, render=render, size=size, keep_vector=keep_vector
        )
        gym.ObservationWrapper.__init__(self, env)
        self._render = render
        self._size = size
        self._keep_vector = keep_vector
        obs_spaces: dict[str, spaces.Space] = {
            IMAGE_KEY: spaces.Box(0, 255, (size, size, 3), np.uint8)
        }
        if keep_vector:
            inner = env.observation_space
            assert isinstance(inner, spaces.Dict) and VECTOR_KEY in inner.spaces, inner
            obs_spaces[VECTOR_KEY] = inner[VECTOR_KEY]
        self.observation_space = spaces.Dict(obs_spaces)

    def observation(self, observation: Any) -> Obs:
        image = np.ascontiguousarray(self._render(), dtype=np.uint8)  # [S, S, 3]
        assert image.shape == (self._size, self._size, 3), image.shape
        obs = {IMAGE_KEY: image}
        if self._keep_vector:
            obs[VECTOR_KEY] = observation[VECTOR_KEY]
        return obs


class RngState(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Exposes the env's random state as the attribute `rng_state` (get and set), so a vector
    env can save and restore it across processes (`get_attr` / `set_attr`) for exact resume.

    The state is the base env's `np_random` plus, when the base env has one, the generator in
    its `extra_rng` attribute (dm_control tasks draw initial states from their own RandomState).
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    @property
    def rng_state(self) -> dict[str, Any]:
        base = self.env.unwrapped
        state: dict[str, Any] = {"np_random": base.np_random.bit_generator.state}
        extra = getattr(base, "extra_rng", None)
        if extra is not None:
            state["extra"] = extra.get_state()
        return state

    @rng_state.setter
    def rng_state(self, state: dict[str, Any]) -> None:
        base = self.env.unwrapped
        base.np_random.bit_generator.state = state["np_random"]
        extra = getattr(base, "extra_rng", None)
        if extra is not None:
            extra.set_state(state["extra"])


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Area-resize a uint8 [H, W, 3] frame to [size, size, 3] (PIL, a dependency of imageio)."""
    if image.shape[:2] == (size, size):
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image[..., :3]).resize((size, size), Image.Resampling.BOX))
