"""Gymnasium ids (CartPole-v1, Pendulum-v1, ...) as base envs for the wrapper stack.

Proprio: any Box (flattened) or Discrete (one-hot) observation space -> {"vector": float32 [D]}.
Actions: Box spaces rescaled to [-1, 1]^A (and clipped); Discrete spaces stay discrete underneath
(the VecEnv turns one-hot actions into indices). The env's own TimeLimit stays in place; a shorter
configured limit wraps it.

Pixels: only where rendering is cheap and available: `render_mode="rgb_array"`, MuJoCo envs render
at image_size directly, others are area-resized. An env that cannot render here (e.g. classic
control without pygame) is a ValueError saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import RescaleAction, TransformAction

from worldmodels.envs.gl import ensure_mujoco_gl, note_rendering
from worldmodels.envs.wrappers import VectorObs, resize_image


def check_task(task: str) -> None:
    """ValueError listing the registered gymnasium ids when `task` is not one."""
    if task not in gym.registry:
        raise ValueError(f"unknown gym id {task!r}; valid: {', '.join(sorted(gym.registry))}")


def make_gym_base(
    task: str, pixels: bool, vector: bool, image_size: int
) -> tuple[gym.Env, Callable[[], np.ndarray] | None]:
    """The base env (dict obs when `vector`, actions in [-1, 1] or discrete) and, for pixels,
    a closure rendering the current frame as uint8 [image_size, image_size, 3]."""
    check_task(task)
    spec = gym.spec(task)
    kwargs: dict[str, Any] = {}
    mujoco = "mujoco" in str(spec.entry_point)
    if pixels:
        if mujoco:
            ensure_mujoco_gl()
            kwargs.update(width=image_size, height=image_size)
        kwargs["render_mode"] = "rgb_array"
    base = gym.make(task, **kwargs)
    if pixels and "rgb_array" not in base.metadata.get("render_modes", []):
        raise ValueError(
            f"pixels are not supported for gym task {task!r} (no rgb_array render "
            "mode); use obs=proprio"
        )
    env: gym.Env = base
    act = base.action_space
    if isinstance(act, spaces.Box):
        if act.shape is None or len(act.shape) != 1 or not np.all(np.isfinite([act.low, act.high])):
            raise ValueError(f"gym task {task!r}: need a 1-D bounded Box action space, got {act}")
        env = RescaleAction(env, np.float32(-1.0), np.float32(1.0))
        # Clip to [-1, 1] keeping the bounded space (ClipAction would advertise an unbounded one).
        env = TransformAction(env, lambda a: np.clip(a, -1.0, 1.0), env.action_space)
    elif not isinstance(act, spaces.Discrete):
        raise ValueError(f"gym task {task!r}: need a Box or Discrete action space, got {act}")
    if vector:
        env = VectorObs(env)
    if not pixels:
        return env, None

    def render() -> np.ndarray:
        if mujoco:
            note_rendering()
        frame = base.render()
        assert isinstance(frame, np.ndarray), type(frame)
        return resize_image(frame, image_size)

    if not mujoco:  # MuJoCo renders once GL works; others may lack a dependency (pygame)
        _check_renders(task, env, render)
    return env, render


def _check_renders(task: str, env: gym.Env, render: Callable[[], np.ndarray]) -> None:
    """Render one frame now, so a missing render dependency fails here with a clear message
    instead of inside a worker process."""
    env.reset(seed=0)
    try:
        render()
    except (gym.error.Error, ImportError) as e:
        raise ValueError(
            f"pixels are not supported for gym task {task!r} here ({e}); use obs=proprio"
        ) from e
