"""Env config parsing: suite defaults, the yaml files in configs/env, and one-line errors that
list the valid names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from worldmodels.envs.make import KEYS, env_specs, make_vec_env, parse_env_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "env"


def test_suite_defaults():
    assert parse_env_config({"suite": "dmc", "task": "walker_walk"}).action_repeat == 2
    assert parse_env_config({"suite": "gym", "task": "CartPole-v1"}).action_repeat == 1
    assert parse_env_config({"suite": "dummy", "task": "reach"}).action_repeat == 1
    cfg = parse_env_config({"suite": "dmc", "task": "walker_walk", "action_repeat": None})
    assert (cfg.action_repeat, cfg.obs, cfg.image_size, cfg.camera) == (2, "pixels", 64, None)


@pytest.mark.parametrize("name", ["dmc_vision", "dmc_proprio", "gym", "dummy"])
def test_config_files_parse_with_all_keys(name):
    raw = yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text())
    assert set(raw) == set(KEYS)
    parse_env_config(raw)


def test_dummy_config_file_builds():
    raw = yaml.safe_load((CONFIG_DIR / "dummy.yaml").read_text())
    obs_spec, act_spec = env_specs(raw)
    assert obs_spec["image"].shape == (raw["image_size"], raw["image_size"], 3)


@pytest.mark.parametrize(
    "cfg, pattern",
    [
        ({"suite": "atari", "task": "pong"}, r"unknown env suite 'atari'; valid: dmc, gym, dummy"),
        (
            {"suite": "dummy", "task": "nope"},
            r"unknown dummy task 'nope'; valid: reach, "
            r"reach_discrete, bandit",
        ),
        (
            {"suite": "dummy", "task": "reach", "obs": "rgb"},
            r"unknown env obs mode 'rgb'; valid: "
            r"pixels, proprio, both",
        ),
        (
            {"suite": "dummy", "task": "reach", "frame_skip": 2},
            r"unknown env config keys "
            r"\['frame_skip'\]; valid: suite",
        ),
        (
            {"suite": "dummy", "task": "reach", "action_repeat": 0},
            r"action_repeat must be a positive",
        ),
        ({"suite": "dummy", "task": "reach", "time_limit": -5}, r"time_limit must be a positive"),
        ({"suite": "dummy", "task": "reach", "image_size": 2.5}, r"image_size must be a positive"),
        ({"suite": "gym", "task": "Pong-v9"}, r"unknown gym id 'Pong-v9'; valid: .*CartPole-v1"),
    ],
)
def test_bad_config_is_a_one_line_value_error(cfg, pattern):
    with pytest.raises(ValueError, match=pattern) as err:
        make_vec_env(cfg, num_envs=1, seed=0, asynchronous=False)
    assert "\n" not in str(err.value)


def test_omegaconf_config_is_accepted():
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(
        {
            "suite": "dummy",
            "task": "bandit",
            "obs": "proprio",
            "image_size": 16,
            "camera": None,
            "action_repeat": None,
            "time_limit": None,
        }
    )
    with make_vec_env(cfg, num_envs=2, seed=0, asynchronous=False) as vec:
        assert vec.reset()["vector"].shape == (2, 2)
