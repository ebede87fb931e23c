"""Bad input through the command line (`python -m worldmodels.train ...`): every case is one line
on stderr that names the key and its valid values, with exit code 2, before any env is built.

The table runs `worldmodels.train.cli` in-process (the same function `python -m` runs); two
subprocess runs check the real process's exit code for a Hydra error and a schema error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from worldmodels.errors import EXIT_USER_ERROR
from worldmodels.train import cli

BASE = ["trainer=debug", "device=cpu", "logger.progress=false", "env=dummy", "agent=random"]

# (overrides, substrings the one-line message must hold: the key and the valid values)
CASES: list[tuple[list[str], list[str]]] = [
    (["+trainer.stepz=5"], ["trainer.stepz", "steps", "eval_every"]),
    (["trainer.stepz=5"], ["trainer.stepz", "steps", "eval_every"]),
    (["trainer.steps=abc"], ["trainer.steps", "integer >= 1", "'abc'"]),
    (["trainer.steps=0"], ["trainer.steps", "integer >= 1"]),
    (["trainer.steps=-5"], ["trainer.steps", "integer >= 1", "-5"]),
    (["trainer.steps=1.5"], ["trainer.steps", "integer >= 1"]),
    (["trainer.prefill=-1"], ["trainer.prefill", "integer >= 0"]),
    (["trainer.train_ratio=-1"], ["trainer.train_ratio", "number >= 0", "-1"]),
    (["trainer.train_ratio=fast"], ["trainer.train_ratio", "number >= 0"]),
    (["trainer.num_envs=0"], ["trainer.num_envs", "integer >= 1"]),
    (["trainer.async_envs=abc"], ["trainer.async_envs", "true or false"]),
    (["trainer.time_limit=0"], ["trainer.time_limit", "integer >= 1 or null"]),
    (["trainer.log_every=-1"], ["trainer.log_every", "integer >= 0"]),
    (["trainer.eval_every=often"], ["trainer.eval_every", "integer >= 0"]),
    (["trainer.eval_episodes=0"], ["trainer.eval_episodes", "integer >= 1"]),
    (["trainer.checkpoint_every=-3"], ["trainer.checkpoint_every", "integer >= 0"]),
    (["trainer.save_replay=maybe"], ["trainer.save_replay", "true or false"]),
    (["trainer.stop_after=0"], ["trainer.stop_after", "integer >= 1 or null"]),
    (["trainer.stop_after=1000"], ["trainer.stop_after", "trainer.steps=160"]),
    (["trainer.param_norm_limit=0"], ["trainer.param_norm_limit", "number > 0"]),
    (["seed=abc"], ["seed must be", "integer >= 0", "'abc'"]),
    (["seed=-1"], ["seed must be", "integer >= 0"]),
    (["seed=1,2"], ["seed=1,2"]),
    (["device=tpu"], ["device", "auto, cpu, cuda"]),
    (["resume=5"], ["resume", "true, false, last or a run dir"]),
    (["resume_without_replay=maybe"], ["resume_without_replay", "true or false"]),
    (["agent=nope"], ["agent=nope", "sac", "dreamer"]),
    (["env=nope"], ["env=nope", "dummy", "dmc_vision"]),
    (["replay=nope"], ["replay=nope", "uniform", "recency"]),
    (["size=xxl"], ["size=xxl", "xs"]),
    (["+ablation=nope"], ["ablation=nope", "no_decoder"]),
    (["trainer.steps=[1"], ["trainer.steps=[1", "cannot parse"]),
    (["+foo=1"], ["foo", "top-level keys", "seed"]),
    (["env.suite=atari"], ["env.suite", "dmc, gym, dummy"]),
    (["env.obs=rgb"], ["env.obs", "pixels, proprio, both"]),
    (["env.image_size=0"], ["env.image_size", "integer >= 4"]),
    (["env.action_repeat=0"], ["env.action_repeat", "integer >= 1"]),
    (["env.camera=front"], ["env.camera", "integer >= 0 or null"]),
    (["env.time_limit=-1"], ["env.time_limit", "integer >= 1 or null"]),
    (["env.task=nope"], ["env.task", "reach", "bandit"]),
    (["env=gym", "env.task=NoSuchEnv-v0"], ["env.task", "CartPole-v1"]),
    (["+env.colour=red"], ["env.colour", "image_size"]),
    (["replay.capacity=0"], ["replay.capacity", "integer >= 1"]),
    (["replay.sampling=prioritized"], ["replay.sampling", "uniform, recency"]),
    (["replay.recency_exponent=-1"], ["replay.recency_exponent", "number >= 0"]),
    (["logger.video=abc"], ["logger.video", "true or false"]),
    (["logger.tensorboard=2"], ["logger.tensorboard", "true or false"]),
    (["+logger.colour=1"], ["logger.colour", "tensorboard"]),
    (["size.units=0"], ["size.units", "integer >= 1"]),
    (["agent=sac", "agent.gamma=5"], ["agent.gamma", "(0, 1]"]),
    (["agent=sac", "agent.gamma=0"], ["agent.gamma", "(0, 1]"]),
    (["agent=sac", "agent.batch=0"], ["agent.batch", "integer >= 1"]),
    (["agent=sac", "agent.tau=0"], ["agent.tau", "(0, 1]"]),
    (["agent=sac", "+agent.bogus=1"], ["agent.bogus", "SACAgent", "tau"]),
    (["agent=sac", "agent.latent.lr=-1"], ["agent.latent.lr", "number > 0"]),
    (["agent=dreamer", "agent.horizon=0"], ["agent.horizon", "integer >= 1"]),
    (["agent=dreamer", "agent.actor_lr=fast"], ["agent.actor_lr", "number > 0", "'fast'"]),
    (["agent=dreamer", "agent.lam=2"], ["agent.lam", "[0, 1]"]),
    (
        ["agent=dreamer", "agent.world_model.loss_scales.image=-1"],
        ["agent.world_model.loss_scales.image", ">= 0"],
    ),
    (["agent=dqn", "agent.n_step=0"], ["agent.n_step", "integer >= 1"]),
    (["agent=ppo", "agent.epochs=0"], ["agent.epochs", "integer >= 1"]),
    (["agent=cem", "agent.candidates=0"], ["agent.candidates", "integer >= 1"]),
]


def test_the_table_is_big_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("overrides,expected", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_is_one_line_naming_key_and_valid_values(
    overrides, expected, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(
        sys, "argv", ["worldmodels.train", *BASE, f"run_dir={tmp_path}/run", *overrides]
    )
    with pytest.raises(SystemExit) as stop:
        cli()
    assert stop.value.code == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("worldmodels: error: "), err
    for part in expected:
        assert part in err, (part, err)
    assert not (tmp_path / "run").exists()  # refused before anything was built or written


def _cli(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "worldmodels.train", *BASE, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_real_process_exit_code_is_the_same_for_hydra_and_schema_errors(tmp_path):
    hydra_error = _cli("agent=nope", cwd=tmp_path)
    schema_error = _cli("trainer.steps=abc", cwd=tmp_path)
    for done in (hydra_error, schema_error):
        assert done.returncode == EXIT_USER_ERROR, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "agent=nope" in hydra_error.stderr and "trainer.steps" in schema_error.stderr
