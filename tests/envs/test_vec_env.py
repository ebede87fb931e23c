"""The ROW contract of VecEnv (make_vec_env) on the dummy envs: first/last/terminal flags,
auto-reset exactly once, action repeat, time limits, seeds, async == sync."""

from __future__ import annotations

import numpy as np
import pytest

from worldmodels.envs.make import env_specs, make_vec_env
from worldmodels.envs.spaces import ActSpec, ArraySpec

REACH = {"suite": "dummy", "task": "reach", "obs": "both", "image_size": 16}
BANDIT = {"suite": "dummy", "task": "bandit", "obs": "proprio", "image_size": 16}


def rollout(vec, actions):
    """Rows [T+1] of dicts: reset, then one step per action [N, A]."""
    rows = [vec.reset()]
    rows += [vec.step(a) for a in actions]
    return rows


def stack(rows, key):
    return np.stack([r[key] for r in rows])  # [T, N, ...]


def zeros(vec, steps):
    return [np.zeros((vec.num_envs, vec.act_spec.dim), np.float32)] * steps


def test_reset_row_shapes_and_flags():
    with make_vec_env(REACH, num_envs=3, seed=0, asynchronous=False) as vec:
        row = vec.reset()
        assert vec.obs_spec == {
            "image": ArraySpec((16, 16, 3), "uint8"),
            "vector": ArraySpec((2,), "float32"),
        }
        assert vec.act_spec == ActSpec(1, discrete=False)
        assert row["image"].shape == (3, 16, 16, 3) and row["image"].dtype == np.uint8
        assert row["vector"].shape == (3, 2) and row["vector"].dtype == np.float32
        assert row["reward"].dtype == np.float32 and np.all(row["reward"] == 0)
        assert row["is_first"].all() and not row["is_last"].any() and not row["is_terminal"].any()
        step = vec.step(np.zeros((3, 1), np.float32))
        assert not step["is_first"].any()
        assert set(step) == {"image", "vector", "reward", "is_first", "is_last", "is_terminal"}


def test_truncation_then_autoreset_once():
    with make_vec_env(REACH, num_envs=2, seed=0, asynchronous=False) as vec:
        rows = rollout(vec, zeros(vec, 65))
    first, last, term = stack(rows, "is_first"), stack(rows, "is_last"), stack(rows, "is_terminal")
    reward = stack(rows, "reward")
    # Episodes: rows 0..30 (30 steps), the reset row 31, rows 31..61, reset row 62.
    assert np.flatnonzero(last[:, 0]).tolist() == [30, 61]
    assert np.flatnonzero(first[:, 0]).tolist() == [0, 31, 62]
    assert not term.any()  # reach only truncates
    assert np.all(reward[first] == 0) and np.all(reward[~first] != 0)
    # The row after is_last is is_first (exactly once): a new episode with a new goal.
    assert np.all(first[1:] == last[:-1])
    assert not np.allclose(rows[31]["vector"], rows[30]["vector"])


def test_termination_sets_is_terminal_and_next_row_is_first():
    with make_vec_env(BANDIT, num_envs=2, seed=0, asynchronous=False) as vec:
        rows = [vec.reset()]
        for _ in range(6):
            cue = rows[-1]["vector"].argmax(-1)  # [N]; terminal rows show zeros
            rows.append(vec.step(np.eye(2, dtype=np.float32)[cue]))
    first, last, term = stack(rows, "is_first"), stack(rows, "is_last"), stack(rows, "is_terminal")
    assert np.all(first[0::2]) and np.all(last[1::2]) and np.all(term[1::2])
    assert not first[1::2].any() and not last[0::2].any()
    assert np.all(stack(rows, "reward")[1::2] == 1.0)  # acted on the cue: always right


def test_discrete_actions_are_one_hot():
    cfg = dict(REACH, task="reach_discrete", obs="proprio")
    assert env_specs(cfg)[1] == ActSpec(3, discrete=True)
    with make_vec_env(cfg, num_envs=2, seed=0, asynchronous=False) as vec:
        x0 = vec.reset()["vector"][:, 0]
        row = vec.step(np.array([[0, 0, 1], [1, 0, 0]], np.float32))  # right, left
        np.testing.assert_allclose(row["vector"][:, 0], np.clip(x0 + [0.2, -0.2], -1, 1), atol=1e-6)
        with pytest.raises(ValueError, match="action shape"):
            vec.step(np.zeros((2, 1), np.float32))


def test_action_repeat_sums_rewards_and_stops_at_episode_end():
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (9, 1, 1)).astype(np.float32)  # [T, N, A] per policy step
    with make_vec_env(REACH, num_envs=1, seed=5, asynchronous=False) as vec:
        single = rollout(vec, np.repeat(actions, 4, axis=0))  # the same frames, one by one
    with make_vec_env(dict(REACH, action_repeat=4), num_envs=1, seed=5, asynchronous=False) as vec:
        assert vec.action_repeat == 4
        repeated = rollout(vec, actions)
    reward = stack(single, "reward")[:, 0]
    for k in range(1, 8):  # policy step k covers frames 4k-3 .. 4k
        assert repeated[k]["reward"][0] == pytest.approx(
            reward[4 * k - 3 : 4 * k + 1].sum(), abs=1e-5
        )
        np.testing.assert_array_equal(repeated[k]["image"], single[4 * k]["image"])
        assert not repeated[k]["is_last"][0]
    # 30 frames: the 8th policy step has only 2 frames left, then the episode ends.
    assert repeated[8]["reward"][0] == pytest.approx(reward[29:31].sum(), abs=1e-5)
    assert repeated[8]["is_last"][0] and not repeated[8]["is_terminal"][0]
    assert repeated[9]["is_first"][0]


@pytest.mark.parametrize(
    "cfg_limit, loop_limit, repeat, steps",
    [(12, None, 1, 12), (12, 7, 1, 7), (None, 9, 1, 9), (7, None, 2, 4), (100, None, 1, 30)],
)
def test_time_limit_in_frames_truncates(cfg_limit, loop_limit, repeat, steps):
    cfg = dict(REACH, time_limit=cfg_limit, action_repeat=repeat)
    with make_vec_env(cfg, num_envs=1, seed=0, asynchronous=False, time_limit=loop_limit) as vec:
        rows = rollout(vec, zeros(vec, steps + 1))
    last = stack(rows, "is_last")[:, 0]
    assert np.flatnonzero(last).tolist() == [steps]  # the shorter limit wins, counted in frames
    assert not stack(rows, "is_terminal").any()
    assert rows[steps + 1]["is_first"][0]


def test_seeds_env_i_gets_seed_plus_i_and_reset_reseeds():
    with make_vec_env(REACH, num_envs=2, seed=10, asynchronous=False) as vec:
        a = vec.reset()["vector"]
        vec.step(np.ones((2, 1), np.float32))
        again = vec.reset(seed=10)["vector"]
        other = vec.reset(seed=11)["vector"]
    with make_vec_env(REACH, num_envs=1, seed=11, asynchronous=False) as vec:
        b = vec.reset()["vector"]
    np.testing.assert_array_equal(a, again)
    np.testing.assert_array_equal(a[1], b[0])  # env 1 of seed 10 == env 0 of seed 11
    np.testing.assert_array_equal(other[0], a[1])
    assert not np.allclose(a[0], a[1])


def test_async_matches_sync():
    rng = np.random.default_rng(1)
    actions = rng.uniform(-1, 1, (70, 2, 1)).astype(np.float32)
    cfg = dict(REACH, action_repeat=2)
    with make_vec_env(cfg, num_envs=2, seed=3, asynchronous=False, time_limit=40) as vec:
        sync = rollout(vec, actions)
    with make_vec_env(cfg, num_envs=2, seed=3, asynchronous=True, time_limit=40) as vec:
        async_ = rollout(vec, actions)
    assert stack(sync, "is_first").sum() > 2  # several episodes, so auto-reset is covered
    for key in sync[0]:
        np.testing.assert_array_equal(stack(sync, key), stack(async_, key), err_msg=key)


def test_step_before_reset_is_an_error():
    with (
        make_vec_env(REACH, num_envs=1, seed=0, asynchronous=False) as vec,
        pytest.raises(RuntimeError, match="before reset"),
    ):
        vec.step(np.zeros((1, 1), np.float32))


@pytest.mark.parametrize("asynchronous", [False, True])
def test_rng_state_round_trip_gives_the_same_next_episodes(asynchronous):
    with make_vec_env(REACH, num_envs=2, seed=0, asynchronous=asynchronous) as vec:
        vec.reset()
        for _ in range(5):
            vec.step(np.ones((2, 1), np.float32))
        state = vec.get_rng_state()
        expected = [vec.reset() for _ in range(2)]  # episodes drawn from the saved state
    with make_vec_env(REACH, num_envs=2, seed=99, asynchronous=asynchronous) as vec:
        vec.reset(seed=99)
        vec.set_rng_state(state)
        got = [vec.reset() for _ in range(2)]
    for e, g in zip(expected, got):
        for key in e:
            np.testing.assert_array_equal(e[key], g[key], err_msg=key)
