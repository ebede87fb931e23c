"""dm_control envs: pixel and proprio specs, cameras, action rescaling, episode ends, names.

Pixel steps are kept few (a 64x64 software-rendered frame costs ~11 ms, a GL context ~1 s).
"""

from __future__ import annotations

import dm_env
import numpy as np
import pytest

from worldmodels.envs.dmc import DMCEnv, load_suite, split_task
from worldmodels.envs.make import env_specs, make_env, make_vec_env
from worldmodels.envs.spaces import ActSpec, ArraySpec

CARTPOLE = {"suite": "dmc", "task": "cartpole_swingup", "obs": "pixels"}
WALKER = {"suite": "dmc", "task": "walker_walk", "obs": "proprio"}


def test_pixels_spec_and_rows():
    obs_spec, act_spec = env_specs(CARTPOLE)
    assert obs_spec == {"image": ArraySpec((64, 64, 3), "uint8")}
    assert act_spec == ActSpec(1, discrete=False)
    with make_vec_env(CARTPOLE, num_envs=1, seed=0, asynchronous=False) as vec:
        rows = [vec.reset()] + [vec.step(np.ones((1, 1), np.float32)) for _ in range(3)]
    for row in rows:
        assert row["image"].shape == (1, 64, 64, 3) and row["image"].dtype == np.uint8
        assert row["image"].std() > 10  # a rendered scene, not a blank frame
    assert rows[0]["is_first"][0] and not any(r["is_first"][0] for r in rows[1:])
    assert not np.array_equal(rows[0]["image"], rows[3]["image"])  # the cart moved


def test_quadruped_renders_camera_2_and_both_keeps_vector():
    cfg = {"suite": "dmc", "task": "quadruped_walk", "obs": "both"}
    env = make_env(cfg)
    obs, _ = env.reset(seed=0)
    physics = env.unwrapped.physics
    assert obs["vector"].dtype == np.float32 and obs["vector"].shape == (78,)
    np.testing.assert_array_equal(obs["image"], physics.render(64, 64, camera_id=2))
    assert not np.array_equal(obs["image"], physics.render(64, 64, camera_id=0))
    env.close()


def test_proprio_time_limit_truncates_in_frames():
    assert env_specs(WALKER) == ({"vector": ArraySpec((24,), "float32")}, ActSpec(6, False))
    # 10 frames at action repeat 2 -> 5 policy steps, then the reset row.
    with make_vec_env(WALKER, num_envs=2, seed=0, asynchronous=False, time_limit=10) as vec:
        assert vec.action_repeat == 2
        rows = [vec.reset()] + [vec.step(np.zeros((2, 6), np.float32)) for _ in range(6)]
    last = np.stack([r["is_last"] for r in rows])  # [T, N]
    assert np.flatnonzero(last[:, 0]).tolist() == [5] and last[5].all()
    assert not any(r["is_terminal"].any() for r in rows)  # a time limit is a truncation
    assert rows[6]["is_first"].all() and np.all(rows[6]["reward"] == 0)
    rewards = np.stack([r["reward"] for r in rows[1:6]])
    assert np.all((rewards >= 0) & (rewards <= 2))  # 2 frames of rewards in [0, 1]


def test_reset_seed_reproduces_initial_state():
    with make_vec_env(WALKER, num_envs=2, seed=0, asynchronous=False) as vec:
        a = vec.reset(seed=3)["vector"]
        vec.step(np.ones((2, 6), np.float32))
        b = vec.reset(seed=3)["vector"]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])  # env 1 got seed 4


def test_actions_rescaled_to_actuator_bounds():
    env = make_env({"suite": "dmc", "task": "quadruped_walk", "obs": "proprio", "action_repeat": 1})
    env.reset(seed=0)
    spec = env.unwrapped._env.action_spec()
    ctrl = lambda: env.unwrapped.physics.data.ctrl.copy()  # noqa: E731
    env.step(np.ones(12, np.float32))
    np.testing.assert_allclose(ctrl(), spec.maximum)
    env.step(-np.ones(12, np.float32))
    np.testing.assert_allclose(ctrl(), spec.minimum)
    env.step(np.full(12, 5.0, np.float32))  # out of range: clipped
    np.testing.assert_allclose(ctrl(), spec.maximum)
    env.step(np.zeros(12, np.float32))
    np.testing.assert_allclose(ctrl(), (spec.minimum + spec.maximum) / 2)
    env.close()


@pytest.mark.parametrize(
    "discount, terminated, truncated", [(0.0, True, False), (1.0, False, True)]
)
def test_last_step_discount_zero_is_terminal_else_truncation(
    monkeypatch, discount, terminated, truncated
):
    env = DMCEnv(load_suite(pixels=False), "cartpole", "balance")
    env.reset(seed=0)
    obs = env._env.step(np.zeros(1)).observation
    last = dm_env.TimeStep(dm_env.StepType.LAST, 0.5, discount, obs)
    monkeypatch.setattr(env._env, "step", lambda action: last)
    _, reward, term, trunc, _ = env.step(np.zeros(1, np.float32))
    assert (term, trunc, reward) == (terminated, truncated, 0.5)


@pytest.mark.parametrize(
    "name, domain, task",
    [
        ("ball_in_cup_catch", "ball_in_cup", "catch"),
        ("point_mass_easy", "point_mass", "easy"),
        ("cartpole_balance_sparse", "cartpole", "balance_sparse"),
        ("finger_turn_hard", "finger", "turn_hard"),
        ("humanoid_CMU_run", "humanoid_CMU", "run"),
        ("humanoid_run", "humanoid", "run"),
    ],
)
def test_task_names_split_at_the_domain(name, domain, task):
    assert split_task(name, load_suite(pixels=False)) == (domain, task)


def test_bad_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown dm_control task 'fly'.*walker_walk"):
        make_env({"suite": "dmc", "task": "walker_fly", "obs": "proprio"})
    with pytest.raises(ValueError, match="unknown dm_control domain.*ball_in_cup.*walker"):
        make_env({"suite": "dmc", "task": "robot_walk", "obs": "proprio"})


@pytest.mark.timeout(120)
def test_async_pixels_after_rendering_here_match_sync():
    # This process has rendered (GL context + Mesa threads): workers must not be forked from it.
    with make_vec_env(CARTPOLE, num_envs=1, seed=2, asynchronous=False) as vec:
        sync = [vec.reset(), vec.step(np.ones((1, 1), np.float32))]
    with make_vec_env(CARTPOLE, num_envs=1, seed=2, asynchronous=True) as vec:
        async_ = [vec.reset(), vec.step(np.ones((1, 1), np.float32))]
    for s, a in zip(sync, async_):
        np.testing.assert_array_equal(s["image"], a["image"])
        np.testing.assert_array_equal(s["reward"], a["reward"])


def test_rng_state_includes_the_task_random_state():
    # dm_control draws initial states from the task's own RandomState, not np_random.
    with make_vec_env(WALKER, num_envs=1, seed=0, asynchronous=False) as vec:
        vec.reset()
        state = vec.get_rng_state()
        expected = vec.reset()["vector"]
    with make_vec_env(WALKER, num_envs=1, seed=7, asynchronous=False) as vec:
        vec.reset(seed=7)
        vec.set_rng_state(state)
        np.testing.assert_array_equal(vec.reset()["vector"], expected)
