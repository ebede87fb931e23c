"""gymnasium's own env checker on every env this project builds (the full wrapper stack)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

from worldmodels.envs.make import make_env
from worldmodels.envs.wrappers import ActionRepeat, PixelObs, RngState, VectorObs

CASES = [
    {"suite": "gym", "task": "Pendulum-v1", "obs": "proprio"},
    {"suite": "gym", "task": "CartPole-v1", "obs": "proprio"},
    {"suite": "dummy", "task": "reach", "obs": "both", "image_size": 16},
    {"suite": "dummy", "task": "reach_discrete", "obs": "pixels", "image_size": 16},
    {"suite": "dummy", "task": "bandit", "obs": "proprio", "image_size": 16},
    {"suite": "dmc", "task": "cartpole_balance", "obs": "proprio"},
    {"suite": "dmc", "task": "cartpole_balance", "obs": "pixels", "image_size": 32},
    {"suite": "dmc", "task": "cartpole_balance", "obs": "both", "image_size": 32},
]


@pytest.mark.parametrize("env_cfg", CASES, ids=lambda c: f"{c['suite']}-{c['task']}-{c['obs']}")
def test_check_env_passes(env_cfg):
    env = make_env(env_cfg, time_limit=40)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its advice (e.g. unbounded Box) is not a failure
            check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_wrappers_record_their_arguments():
    """gymnasium's convention: a wrapper that records its constructor arguments appears in
    env.spec and is rebuilt by gym.make(env.spec)."""
    for cls in (ActionRepeat, VectorObs, PixelObs, RngState):
        assert issubclass(cls, gym.utils.RecordConstructorArgs), cls
    env = make_env({"suite": "gym", "task": "Pendulum-v1", "obs": "proprio", "action_repeat": 3})
    names = [w.name for w in env.spec.additional_wrappers]
    assert names[-3:] == ["VectorObs", "ActionRepeat", "RngState"], names
    assert env.spec.additional_wrappers[-2].kwargs == {"repeat": 3}
    again = gym.make(env.spec)
    assert type(again) is RngState and again.get_wrapper_attr("repeat") == 3
    env.close()
    again.close()
