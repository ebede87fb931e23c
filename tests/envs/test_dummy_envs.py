"""The dummy envs themselves: deterministic episodes, informative pixels, rewards and endings."""

from __future__ import annotations

import numpy as np
import pytest

from worldmodels.envs.dummy import BanditEnv, ReachEnv, make_dummy_env


def test_reach_seed_fixes_episode_and_reward_is_one_minus_distance():
    a, b = ReachEnv("proprio"), ReachEnv("proprio")
    oa, _ = a.reset(seed=7)
    ob, _ = b.reset(seed=7)
    np.testing.assert_array_equal(oa["vector"], ob["vector"])
    x, goal = oa["vector"]
    obs, reward, terminated, truncated, _ = a.step(np.array([1.0], np.float32))
    new_x = min(x + 0.2, 1.0)
    assert obs["vector"][0] == pytest.approx(new_x, abs=1e-6)
    assert reward == pytest.approx(1.0 - abs(new_x - goal), abs=1e-6)
    assert not terminated and not truncated
    other, _ = b.reset(seed=8)
    assert not np.allclose(other["vector"], oa["vector"])


def test_reach_truncates_after_30_steps_never_terminates():
    env = ReachEnv("proprio")
    env.reset(seed=0)
    ends = [env.step(np.zeros(1, np.float32))[2:4] for _ in range(30)]
    assert all(not term for term, _ in ends)
    assert [trunc for _, trunc in ends] == [False] * 29 + [True]


def test_reach_discrete_actions_move_left_stay_right():
    env = ReachEnv("proprio", discrete=True)
    obs, _ = env.reset(seed=0)
    x0 = float(obs["vector"][0])
    xs = [float(env.step(a)[0]["vector"][0]) for a in (2, 1, 0, 0)]
    assert -0.8 < x0 < 0.8  # test data: no wall within reach of these moves
    expected = x0 + 0.2 * np.cumsum([1, 0, -1, -1])
    np.testing.assert_allclose(xs, expected, atol=1e-6)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_reach_pixels_show_point_and_goal(size):
    env = ReachEnv("both", image_size=size)
    obs, _ = env.reset(seed=1)
    image = obs["image"]
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    x, goal = obs["vector"]
    # The red block is centred on x, the green column on the goal (anti-aliased: sub-pixel).
    cols = np.arange(size)

    def centre(line: np.ndarray) -> float:
        return float((cols * line).sum() / line.sum())

    assert centre(image[size // 2, :, 0]) == pytest.approx((x + 1) / 2 * (size - 1), abs=0.3)
    assert centre(image[0, :, 1]) == pytest.approx((goal + 1) / 2 * (size - 1), abs=0.3)
    moved, *_ = env.step(np.array([1.0 if x < 0 else -1.0], np.float32))
    assert not np.array_equal(moved["image"], image)


def test_bandit_rewards_matching_action_then_terminates():
    env = BanditEnv("both", image_size=16)
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        cue = int(obs["vector"].argmax())
        half = obs["image"][:, :8].mean() > obs["image"][:, 8:].mean()
        assert half == (cue == 0)  # the lit half shows the cue
        _, reward, terminated, truncated, _ = env.step(cue)
        assert reward == 1.0 and terminated and not truncated
        env.reset(seed=seed)
        assert env.step(1 - cue)[1] == 0.0


def test_obs_modes_select_keys():
    assert set(make_dummy_env("reach", "pixels", 16).observation_space.spaces) == {"image"}
    assert set(make_dummy_env("reach", "proprio", 16).observation_space.spaces) == {"vector"}
    assert set(make_dummy_env("bandit", "both", 16).observation_space.spaces) == {"image", "vector"}
