"""dm_control suite tasks behind the gymnasium API.

`DMCEnv` is the base env of the stack in wrappers.py: observation {"vector": float32 [D]} (the
task's observation dict flattened in sorted key order), actions Box[-1, 1]^A rescaled to the
actuator bounds. Pixels are added on top by `PixelObs` with `render_fn` (64x64 from the domain's
usual camera: 2 for quadruped, as Dreamer does, 0 otherwise), after action repeat.

Episode ends: dm_control's own time limit (1000 frames for the suite) ends an episode with
discount 1, a truncation; a last step with discount 0 is a true termination.

dm_control picks its GL backend when first imported, so `load_suite(pixels=True)` sets MUJOCO_GL
(gl.ensure_mujoco_gl) before that import; proprio never touches GL.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from worldmodels.envs.gl import ensure_mujoco_gl, note_rendering
from worldmodels.envs.spaces import VECTOR_KEY

#: Dreamer's camera per domain; every other domain uses camera 0.
DEFAULT_CAMERA = {"quadruped": 2}
_UNBOUNDED = 1e6  # actuator bounds beyond this are treated as no bounds


def default_camera(domain: str) -> int:
    return DEFAULT_CAMERA.get(domain, 0)


def load_suite(pixels: bool, gl_backend: str | None = None) -> ModuleType:
    """Import dm_control.suite, choosing the GL backend first when pixels are needed.

    `gl_backend` (chosen in the parent process) is exported as is, so worker processes never
    probe again, whatever multiprocessing start method made them.
    """
    backend = None
    if pixels:
        if gl_backend is not None:
            os.environ.setdefault("MUJOCO_GL", gl_backend)
        backend = ensure_mujoco_gl()
    with warnings.catch_warnings():
        # Without MUJOCO_GL (proprio), dm_control tries GLFW first: noise on a headless machine.
        warnings.filterwarnings("ignore", module="glfw")
        from dm_control import suite

    if backend is not None:
        _point_renderer_at(backend)
    return suite


def _point_renderer_at(backend: str) -> None:
    """Re-point dm_control's renderer when it was imported earlier without MUJOCO_GL.

    A proprio env imported dm_control before any pixel env asked for GL, so dm_control chose
    GLFW, which cannot render headless. Its renderer is looked up at context creation
    (`_render.Renderer(...)`), so swapping the module attribute is enough.
    """
    from dm_control import _render

    current = _render.BACKEND
    for names, importer in _render._ALL_RENDERERS:
        if backend in names and current != names[0]:
            _render.Renderer = importer()
            _render.BACKEND = names[0]


def split_task(name: str, suite: ModuleType) -> tuple[str, str]:
    """ "ball_in_cup_catch" -> ("ball_in_cup", "catch"); ValueError listing valid names."""
    by_domain: dict[str, tuple[str, ...]] = {d: tuple(t) for d, t in suite.TASKS_BY_DOMAIN.items()}
    for domain, tasks in by_domain.items():
        if name.startswith(domain + "_") and name[len(domain) + 1 :] in tasks:
            return domain, name[len(domain) + 1 :]
    prefixes = [d for d in by_domain if name.startswith(d + "_")]
    if prefixes:
        domain = max(prefixes, key=len)
        raise ValueError(
            f"unknown dm_control task {name[len(domain) + 1 :]!r} for domain {domain!r} in "
            f"{name!r}; valid: {', '.join(domain + '_' + t for t in by_domain[domain])}"
        )
    raise ValueError(
        f"unknown dm_control domain in task {name!r} (expected domain_task, e.g. walker_walk); "
        f"valid domains: {', '.join(sorted(by_domain))}"
    )


class DMCEnv(gym.Env):
    """One dm_control suite task: {"vector"} observations, actions in [-1, 1]^A."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, suite: ModuleType, domain: str, task: str):
        self.domain, self.task = domain, task
        self._env = suite.load(domain, task, task_kwargs={"random": 0})
        spec = self._env.action_spec()
        low = np.broadcast_to(spec.minimum, spec.shape).astype(np.float64)
        high = np.broadcast_to(spec.maximum, spec.shape).astype(np.float64)
        # Effectively unbounded dims (lqr: +-1e10) pass through unscaled, clipped to [-1, 1].
        unbounded = (np.abs(low) > _UNBOUNDED) | (np.abs(high) > _UNBOUNDED)
        self._low = np.where(unbounded, -1.0, low)
        self._high = np.where(unbounded, 1.0, high)
        self._keys = sorted(self._env.observation_spec())
        dim = sum(int(np.prod(self._env.observation_spec()[k].shape)) for k in self._keys)
        self.observation_space = spaces.Dict(
            {VECTOR_KEY: spaces.Box(-np.inf, np.inf, (dim,), np.float32)}
        )
        self.action_space = spaces.Box(-1.0, 1.0, spec.shape, np.float32)

    @property
    def physics(self) -> Any:
        return self._env.physics

    @property
    def extra_rng(self) -> np.random.RandomState:
        """The task's RandomState (initial states); saved with np_random by wrappers.RngState."""
        return self._env.task.random

    def render_fn(self, size: int, camera: int) -> Callable[[], np.ndarray]:
        """A closure rendering the current frame as uint8 [size, size, 3]."""

        def render() -> np.ndarray:
            note_rendering()
            return self._env.physics.render(size, size, camera_id=camera)

        return render

    def _observe(self, observation: dict[str, Any]) -> dict[str, np.ndarray]:
        parts = [np.asarray(observation[k], np.float32).reshape(-1) for k in self._keys]
        return {VECTOR_KEY: np.concatenate(parts)}  # [D]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            # The task draws initial states from its own RandomState; reseed it in place.
            self._env.task.random.seed(seed % 2**32)
        time_step = self._env.reset()
        return self._observe(time_step.observation), {}

    def step(self, action: Any):
        action = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        scaled = self._low + (action + 1.0) / 2.0 * (self._high - self._low)
        time_step = self._env.step(scaled)
        last = time_step.last()
        terminated = bool(last and time_step.discount == 0)
        truncated = bool(last and not terminated)
        reward = float(time_step.reward or 0.0)
        return self._observe(time_step.observation), reward, terminated, truncated, {}

    def close(self) -> None:
        self._env.close()


def make_dmc_base(name: str, pixels: bool, gl_backend: str | None = None) -> tuple[DMCEnv, str]:
    """The base env for task `name` ("domain_task") and its domain (for the default camera)."""
    suite = load_suite(pixels, gl_backend)
    domain, task = split_task(name, suite)
    return DMCEnv(suite, domain, task), domain
