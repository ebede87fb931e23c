"""The env factory: the only place that reads env config (configs/env/*.yaml).

    vec = make_vec_env(cfg.env, num_envs=4, seed=0)          # workers; rows [N, ...]
    obs_spec, act_spec = env_specs(cfg.env)

Config keys: `suite` (dmc | gym | dummy), `task`, `obs` (pixels | proprio | both), `image_size`,
`camera` (null = the domain's usual one), `action_repeat` (null = the suite's default: dmc 2,
gym 1, dummy 1), `time_limit` (env frames, before action repeat; null = the env's own).

Single-env wrapper stack (wrappers.py): base -> TimeLimit(frames) -> ActionRepeat -> PixelObs
-> RngState.
"""

from __future__ import annotations

import functools
import multiprocessing
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from gymnasium.wrappers import TimeLimit

from worldmodels.envs import dummy
from worldmodels.envs.gl import ensure_mujoco_gl, rendered_in_process
from worldmodels.envs.spaces import ActSpec, ObsSpec
from worldmodels.envs.vector import VecEnv, act_spec_of, obs_spec_of
from worldmodels.envs.wrappers import ActionRepeat, PixelObs, RngState

__all__ = ["EnvConfig", "VecEnv", "env_specs", "make_env", "make_vec_env", "parse_env_config"]

SUITES = ("dmc", "gym", "dummy")
OBS_MODES = ("pixels", "proprio", "both")
DEFAULT_ACTION_REPEAT = {"dmc": 2, "gym": 1, "dummy": 1}
DEFAULT_OBS = {"dmc": "pixels", "gym": "proprio", "dummy": "both"}
KEYS = ("suite", "task", "obs", "image_size", "camera", "action_repeat", "time_limit")


@dataclass(frozen=True)
class EnvConfig:
    """Validated env config (plain values, picklable to worker processes)."""

    suite: str
    task: str
    obs: str
    image_size: int = 64
    camera: int | None = None
    action_repeat: int = 1
    time_limit: int | None = None

    @property
    def pixels(self) -> bool:
        return self.obs in ("pixels", "both")

    @property
    def vector(self) -> bool:
        return self.obs in ("proprio", "both")


def _positive_int(name: str, value: Any, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"env.{name} must be a positive integer{' or null' * allow_none}, got {value!r}"
        )
    return int(value)


def parse_env_config(env_cfg: Mapping[str, Any] | EnvConfig) -> EnvConfig:
    """Check keys and values (suite, obs mode, task name) of a config mapping.

    Raises ValueError (one line, listing the valid options) on anything unknown.
    """
    if isinstance(env_cfg, EnvConfig):
        return env_cfg
    unknown = sorted(set(env_cfg) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown env config keys {unknown}; valid: {', '.join(KEYS)}")
    suite = env_cfg.get("suite")
    if suite not in SUITES:
        raise ValueError(f"unknown env suite {suite!r}; valid: {', '.join(SUITES)}")
    task = env_cfg.get("task")
    if not isinstance(task, str) or not task:
        raise ValueError(f"env.task must be a task name string, got {task!r}")
    obs = env_cfg.get("obs") or DEFAULT_OBS[suite]
    if obs not in OBS_MODES:
        raise ValueError(f"unknown env obs mode {obs!r}; valid: {', '.join(OBS_MODES)}")
    camera = env_cfg.get("camera")
    if camera is not None and (isinstance(camera, bool) or not isinstance(camera, int)):
        raise ValueError(f"env.camera must be an integer camera id or null, got {camera!r}")
    repeat = env_cfg.get("action_repeat")
    cfg = EnvConfig(
        suite=suite,
        task=task,
        obs=obs,
        image_size=_positive_int("image_size", env_cfg.get("image_size", 64)),
        camera=camera,
        action_repeat=_positive_int(
            "action_repeat", DEFAULT_ACTION_REPEAT[suite] if repeat is None else repeat
        ),
        time_limit=_positive_int("time_limit", env_cfg.get("time_limit"), allow_none=True),
    )
    # Cheap name checks here, so a bad name fails in this process, before any worker starts.
    if suite == "dummy":
        dummy.check_task(task)
    elif suite == "gym":
        from worldmodels.envs.gym import check_task

        check_task(task)
    return cfg


def _make_in_worker(make_one: Any) -> gym.Env:
    """Runs in an env worker process: the main process alone decides when workers stop (after
    its checkpoint), so a SIGTERM/SIGINT sent to the whole process group must not kill them."""
    # gymnasium also calls the env fn once in the main process (for the spaces): leave its
    # handlers (the loop's stop-at-a-safe-point) alone there
    if multiprocessing.parent_process() is not None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
    return make_one()


def _frame_limit(*limits: int | None) -> int | None:
    given = [int(x) for x in limits if x is not None]
    return min(given) if given else None


def make_env(
    env_cfg: Mapping[str, Any] | EnvConfig,
    time_limit: int | None = None,
    gl_backend: str | None = None,
) -> gym.Env:
    """One env: Dict observations ("image" uint8 [S, S, 3] and/or "vector" float32 [D]),
    actions Box[-1, 1]^A or Discrete. `time_limit` (frames) shortens episodes further.

    Seed it through `reset(seed=...)`.
    """
    cfg = parse_env_config(env_cfg)
    limit = _frame_limit(cfg.time_limit, time_limit)
    render = None
    if cfg.suite == "dummy":
        env: gym.Env = dummy.make_dummy_env(cfg.task, cfg.obs, cfg.image_size)
    elif cfg.suite == "dmc":
        from worldmodels.envs.dmc import default_camera, make_dmc_base

        base, domain = make_dmc_base(cfg.task, cfg.pixels, gl_backend)
        camera = default_camera(domain) if cfg.camera is None else cfg.camera
        render = base.render_fn(cfg.image_size, camera) if cfg.pixels else None
        env = base
    else:
        from worldmodels.envs.gym import make_gym_base

        env, render = make_gym_base(cfg.task, cfg.pixels, cfg.vector, cfg.image_size)
    if limit is not None:
        env = TimeLimit(env, max_episode_steps=limit)  # counts frames: below the action repeat
    if cfg.action_repeat > 1:
        env = ActionRepeat(env, cfg.action_repeat)
    if render is not None:
        env = PixelObs(env, render, cfg.image_size, keep_vector=cfg.vector)
    return RngState(env)


def env_specs(env_cfg: Mapping[str, Any] | EnvConfig) -> tuple[ObsSpec, ActSpec]:
    """Observation and action specs of one env of this config (builds one env, renders nothing)."""
    env = make_env(env_cfg)
    try:
        return obs_spec_of(env.observation_space), act_spec_of(env.action_space)
    finally:
        env.close()


def _fork_unsafe_for_gl() -> bool:
    """Whether rendering workers must start from a fresh interpreter (spawn) instead of a fork.

    A fork of a process that holds a GL context hangs at its first render (seen with Mesa EGL);
    a fork of a process that initialized CUDA must not use the GPU driver, which NVIDIA's EGL
    does. Otherwise fork: it starts workers in milliseconds, spawn in seconds (spawn re-imports
    the main module, which must guard its entry point with `if __name__ == "__main__"`).
    """
    torch = sys.modules.get("torch")  # only if already imported: never import it here
    return rendered_in_process() or bool(torch is not None and torch.cuda.is_initialized())


def make_vec_env(
    env_cfg: Mapping[str, Any] | EnvConfig,
    num_envs: int,
    seed: int,
    asynchronous: bool = True,
    time_limit: int | None = None,
) -> VecEnv:
    """`num_envs` envs as a VecEnv of ROW batches; env i is seeded with seed + i.

    `time_limit` (env frames) shortens episodes (debug runs); the effective limit is the minimum of
    it, `env.time_limit` and the env's own. `asynchronous` runs each env in a worker process.
    """
    cfg = parse_env_config(env_cfg)
    _positive_int("num_envs", num_envs)
    gl_backend = None
    if cfg.pixels and cfg.suite == "dmc":
        # Choose here, once: workers get the answer instead of each probing again.
        gl_backend = ensure_mujoco_gl()
    make_one = functools.partial(make_env, cfg, time_limit, gl_backend)
    renders = cfg.pixels and cfg.suite != "dummy"  # dummy envs draw with numpy, no GL
    context = "spawn" if renders and _fork_unsafe_for_gl() else "fork"
    if asynchronous:
        make_one = functools.partial(_make_in_worker, make_one)
    return VecEnv(
        [make_one] * num_envs,
        seed=seed,
        asynchronous=asynchronous,
        context=context,
        action_repeat=cfg.action_repeat,
    )
