"""Gymnasium ids: CartPole (discrete, one-hot actions, terminations), Pendulum (rescaled
continuous actions), MuJoCo pixels, and the clear error when an env cannot render."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from worldmodels.envs.make import env_specs, make_env, make_vec_env
from worldmodels.envs.spaces import ActSpec, ArraySpec

CARTPOLE = {"suite": "gym", "task": "CartPole-v1", "obs": "proprio"}
PENDULUM = {"suite": "gym", "task": "Pendulum-v1", "obs": "proprio"}


def test_cartpole_one_hot_actions_match_raw_env_and_terminate():
    assert env_specs(CARTPOLE) == ({"vector": ArraySpec((4,), "float32")}, ActSpec(2, True))
    raw = gym.make("CartPole-v1")
    raw_obs, _ = raw.reset(seed=4)
    with make_vec_env(CARTPOLE, num_envs=1, seed=4, asynchronous=False) as vec:
        row = vec.reset()
        np.testing.assert_array_equal(row["vector"][0], raw_obs)
        terminated = False
        while not terminated:  # always push right: the pole falls within a few dozen steps
            row = vec.step(np.array([[0.0, 1.0]], np.float32))
            raw_obs, reward, terminated, truncated, _ = raw.step(1)
            np.testing.assert_array_equal(row["vector"][0], raw_obs)
            assert row["reward"][0] == reward and not truncated
            assert row["is_last"][0] == row["is_terminal"][0] == terminated
        assert row["is_last"][0] and row["is_terminal"][0]
        assert vec.step(np.array([[1.0, 0.0]], np.float32))["is_first"][0]


def test_pendulum_actions_rescaled_and_clipped():
    assert env_specs(PENDULUM) == ({"vector": ArraySpec((3,), "float32")}, ActSpec(1, False))
    env = make_env(PENDULUM)
    assert env.action_space.low.tolist() == [-1.0] and env.action_space.high.tolist() == [1.0]
    env.reset(seed=0)
    for action, torque in [(1.0, 2.0), (-0.5, -1.0), (3.0, 2.0)]:
        env.step(np.array([action], np.float32))
        assert env.unwrapped.last_u == pytest.approx(torque)


def test_pendulum_own_time_limit_is_a_truncation():
    with make_vec_env(PENDULUM, num_envs=1, seed=0, asynchronous=False, time_limit=500) as vec:
        vec.reset()
        rows = [vec.step(np.zeros((1, 1), np.float32)) for _ in range(200)]
    assert rows[-1]["is_last"][0] and not rows[-1]["is_terminal"][0]  # Pendulum-v1: 200 steps
    assert not any(r["is_last"][0] for r in rows[:-1])


def test_mujoco_env_pixels():
    cfg = {"suite": "gym", "task": "InvertedPendulum-v5", "obs": "both", "image_size": 32}
    obs_spec, _ = env_specs(cfg)
    assert obs_spec == {
        "image": ArraySpec((32, 32, 3), "uint8"),
        "vector": ArraySpec((4,), "float32"),
    }
    env = make_env(cfg)
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == (32, 32, 3) and obs["image"].dtype == np.uint8
    assert obs["image"].max() > 0
    env.close()


class _NoPygameEnv(gym.Env):
    """Renders like a classic-control env whose drawing library is missing."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def render(self):
        raise gym.error.DependencyNotInstalled("pygame is not installed")


def test_pixels_unavailable_is_a_clear_error():
    gym.register("WorldmodelsNoPygame-v0", entry_point=_NoPygameEnv)
    try:
        with pytest.raises(ValueError, match="pixels are not supported.*pygame.*obs=proprio"):
            make_env({"suite": "gym", "task": "WorldmodelsNoPygame-v0", "obs": "pixels"})
        # proprio works for the same env
        assert env_specs({"suite": "gym", "task": "WorldmodelsNoPygame-v0"})[1] == ActSpec(2, True)
    finally:
        del gym.registry["WorldmodelsNoPygame-v0"]


def test_unknown_gym_id_lists_registered_ids():
    with pytest.raises(ValueError, match="unknown gym id 'CartPole-v9'.*CartPole-v1.*Pendulum-v1"):
        make_env({"suite": "gym", "task": "CartPole-v9"})
