"""Tier 3: the real entry point end to end (debug trainer), resume, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from worldmodels.train import UserError, run
from worldmodels.training import checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "worldmodels.train", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_random_agent_dmc_pixels_runs_logs_evaluates_checkpoints_and_resumes(tmp_path):
    args = [
        "agent=random",
        "env=dmc_vision",
        "env.task=cartpole_swingup",
        "trainer=debug",
        "logger.progress=false",
        f"hydra.run.dir={tmp_path}/run",
    ]
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = tmp_path / "run"
    assert f"run dir: {run_dir}" in done.stdout
    for name in (
        "config.yaml",
        "overrides.yaml",
        "metrics.jsonl",
        "status.json",
        "checkpoint/state.pt",
    ):
        assert (run_dir / name).exists(), name
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    recs = _records(run_dir)
    assert all({"env_frames", "policy_steps", "grad_steps", "wall_time"} <= set(r) for r in recs)
    evals = [r for r in recs if "eval/return_mean" in r]
    assert len(evals) == 1 and evals[0]["env_frames"] == 160 and evals[0]["policy_steps"] == 80
    assert list((run_dir / "videos").glob("eval_policy_*.gif"))
    assert any((run_dir / "tb").iterdir())
    # the same command again refuses to overwrite; with resume=true it continues
    again = _cli(*args, cwd=tmp_path)
    assert again.returncode == 2 and "resume=true" in again.stderr
    resumed = _cli(*args, "resume=true", "trainer.steps=240", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _records(run_dir)[-1]["env_frames"] == 240


def _strip(recs: list[dict]) -> list[dict]:
    return [
        {k: v for k, v in r.items() if k != "wall_time" and not k.startswith("perf/")} for r in recs
    ]


def _replay_rows(run_dir: Path) -> dict[str, np.ndarray]:
    from worldmodels.data.replay import Replay
    from worldmodels.envs.make import make_vec_env
    from worldmodels.envs.spaces import row_spec

    env = make_vec_env(
        {"suite": "dummy", "task": "reach", "obs": "proprio"}, 1, 0, asynchronous=False
    )
    replay = Replay(row_spec(env.obs_spec, env.act_spec), 241, 1)  # the rows a 240-frame run needs
    env.close()
    replay.load(run_dir / "checkpoint" / "replay")
    return {k: v.numpy().copy() for k, v in replay._data.items()}


@pytest.mark.parametrize("agent", ["random"])
def test_resume_after_interruption_equals_uninterrupted_run(run_overrides, agent):
    # 10-frame episodes are 11 rows, so the checkpoint at frame 120 falls on an episode's last row.
    common = [
        f"agent={agent}",
        "env=dummy",
        "env.task=reach",
        "env.obs=proprio",
        "trainer.time_limit=10",
        "trainer.checkpoint_every=120",
        "trainer.eval_every=60",
        "trainer.log_every=20",
    ]
    full = run(run_overrides(*common, "trainer.steps=240", name="full"))
    part = run(run_overrides(*common, "trainer.steps=240", "trainer.stop_after=120", name="part"))
    assert json.loads((part / "status.json").read_text())["state"] == "stopped"
    run(run_overrides(*common, "trainer.steps=240", "resume=true", name="part"))
    assert _strip(_records(full)) == _strip(_records(part))
    a, b = _replay_rows(full), _replay_rows(part)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    sa, _ = checkpoint.load(full)
    sb, _ = checkpoint.load(part)
    assert sa["counters"] == sb["counters"]
    for key, value in sa["agent"].items():
        if isinstance(value, dict):
            for name, t in value.items():
                if isinstance(t, torch.Tensor):
                    assert torch.equal(t, sb["agent"][key][name]), f"{key}.{name}"


def test_bad_inputs_give_one_line_errors(tmp_path, run_overrides):
    bad_task = _cli(
        "env=dmc_vision",
        "env.task=walker_fly",
        "trainer=debug",
        f"run_dir={tmp_path}/a",
        cwd=tmp_path,
    )
    assert bad_task.returncode == 2
    msg = bad_task.stderr.strip().splitlines()[-1]
    assert msg.startswith("worldmodels: error:") and "walker_walk" in msg
    bad_agent = _cli("agent=nope", cwd=tmp_path)
    assert (
        bad_agent.returncode != 0
        and "random" in bad_agent.stderr
        and "Traceback" not in bad_agent.stderr
    )
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint"):
        run(run_overrides("env=dummy", "resume=true", name="empty"))
    with pytest.raises(UserError, match="device"):
        run(run_overrides("env=dummy", "device=tpu", name="dev"))
    with pytest.raises(ValueError, match=r"unknown agent options \['bogus'\] for SACAgent.*tau"):
        run(run_overrides("env=dummy", "agent=sac", "+agent.bogus=1", name="opt"))


def test_checkpoint_from_another_config_or_corrupt_is_refused(run_overrides):
    first = run(run_overrides("env=dummy", "env.task=reach", "env.obs=proprio", name="r"))
    with pytest.raises(checkpoint.CheckpointError, match="env.task"):
        run(
            run_overrides(
                "env=dummy", "env.task=reach_discrete", "env.obs=proprio", "resume=true", name="r"
            )
        )
    state_file = first / "checkpoint" / checkpoint.STATE_FILE
    before = state_file.read_bytes()
    state_file.write_bytes(before[: len(before) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="corrupt"):
        run(
            run_overrides("env=dummy", "env.task=reach", "env.obs=proprio", "resume=true", name="r")
        )
    assert state_file.read_bytes() == before[: len(before) // 2]  # nothing overwritten on failure
