"""Tier 3, end to end: evaluate any run's own agent from its checkpoint (issue 14).

A debug run of every agent (dreamer, cem, sac, ppo, dqn, td3, latent sac) through the real
training entry point, then the evaluation writes RUN_DIR/eval_agent.json (mean, 95% interval,
per-episode returns that the CSV repeats) with the agent the checkpoint holds; a video comes back
for a pixel env and for a gym env learned from state (rendered by the env, obs=both).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from worldmodels.errors import UserError
from worldmodels.evaluate import evaluate_run
from worldmodels.evaluation.runs import video_env_config
from worldmodels.train import run

ROOT = Path(__file__).resolve().parents[2]


def evaluate_own_agent(run_dir, episodes, seed=None, **kw) -> dict:
    """The command's in-process entry with the run's own agent (no agent=)."""
    args = [f"checkpoint={run_dir}", f"episodes={episodes}", "device=cpu"]
    if seed is not None:
        args.append(f"seed={seed}")
    args += [f"{k}={v}" for k, v in kw.items()]
    return evaluate_run(args)


TINY = [
    "size=xs",
    "trainer=debug",
    "device=cpu",
    "logger.progress=false",
    "logger.tensorboard=false",
    "logger.video=false",
]
DUMMY = ["env=dummy", "env.task=reach", "env.image_size=16"]
SMALL_PLANNER = ["agent.horizon=3", "agent.candidates=16", "agent.iterations=2", "agent.elites=4"]
AGENTS = {
    "dreamer": ["agent=dreamer", *DUMMY],
    "cem": ["agent=cem", *DUMMY, *SMALL_PLANNER],
    "sac": ["agent=sac", *DUMMY],
    "td3": ["agent=td3", *DUMMY],
    "ppo": ["agent=ppo", *DUMMY],
    "dqn": ["agent=dqn", "env=dummy", "env.task=reach_discrete", "env.image_size=16"],
    "latent_sac": ["agent=sac", "agent.input=latent", *DUMMY],
}
TARGETS = {
    "dreamer": "worldmodels.agents.dreamer.DreamerAgent",
    "cem": "worldmodels.agents.planners.PlannerAgent",
    "sac": "worldmodels.agents.sac.SACAgent",
    "td3": "worldmodels.agents.td3.TD3Agent",
    "ppo": "worldmodels.agents.ppo.PPOAgent",
    "dqn": "worldmodels.agents.dqn.DQNAgent",
    "latent_sac": "worldmodels.agents.sac.SACAgent",
}


@pytest.mark.parametrize("name", list(AGENTS))
def test_every_agent_evaluates_from_its_checkpoint(name, tmp_path):
    run_dir = run([*AGENTS[name], *TINY, f"run_dir={tmp_path / name}"])
    out = evaluate_own_agent(run_dir, 3)
    assert out["agent"] == TARGETS[name]
    saved = json.loads((run_dir / "eval_agent.json").read_text())
    assert saved == json.loads(json.dumps(out))
    assert saved["episodes"] == 3 and saved["seeds"] == [10_000, 10_001, 10_002]
    assert saved["lengths"] == [30, 30, 30]  # reach: 30 steps
    lo, hi = saved["return_ci95"]
    assert lo <= saved["return_mean"] <= hi
    assert saved["return_mean"] == pytest.approx(np.mean(saved["returns"]))
    assert all(-30 <= r <= 30 for r in saved["returns"])  # 30 rewards in [-1, 1]
    with (run_dir / "eval_agent.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [float(r["return"]) for r in rows] == pytest.approx(saved["returns"], rel=1e-5)
    assert [int(r["seed"]) for r in rows] == saved["seeds"]
    # the same seeds evaluate the same episodes again: the evaluation is deterministic
    again = evaluate_own_agent(run_dir, 3)
    assert again["returns"] == saved["returns"]


def test_trained_weights_are_the_ones_evaluated(tmp_path):
    """A checkpoint's weights, not a fresh agent's: perturbing the saved actor changes returns."""
    run_dir = run([*AGENTS["sac"], *TINY, f"run_dir={tmp_path / 'sac'}"])
    base = evaluate_own_agent(run_dir, 2, 0)
    state_path = run_dir / "checkpoint" / "state.pt"
    state = torch.load(state_path, weights_only=False)
    actor = {k: v for k, v in state["agent"]["actor"].items() if v.dtype.is_floating_point}
    for v in actor.values():
        v.add_(torch.randn_like(v))
    torch.save(state, state_path)  # a valid file again: the load checks its CRCs
    changed = evaluate_own_agent(run_dir, 2, 0)
    assert changed["returns"] != base["returns"]


@pytest.mark.parametrize("fmt", ["mp4", "gif"])
def test_video_of_a_pixel_env(tmp_path, fmt):
    run_dir = run([*AGENTS["sac"], "env.obs=pixels", *TINY, f"run_dir={tmp_path / 'px'}"])
    out = evaluate_own_agent(run_dir, 2, None, video="true", video_format=fmt, video_episodes=2)
    names = [Path(v).name for v in out["videos"]]
    assert names == [f"eval_agent_ep0.{fmt}", f"eval_agent_ep1.{fmt}"]
    frames = iio.imread(out["videos"][0])
    assert frames.shape[1:3] == (16, 16) and len(frames) == 31  # the first frame + 30 steps
    assert frames.std() > 0  # a picture, not a blank


def test_video_of_a_gym_env_learned_from_state_through_the_command_line(tmp_path):
    """`python -m worldmodels.evaluate checkpoint=RUN video=true` on a Pendulum-v1 SAC run (state
    only): the video comes from the env's renderer, the agent still reads its vector."""
    run_dir = run(
        # a sweep-style dir name: `=` and `,` need no quoting on the command line
        [
            "agent=sac",
            "env=gym",
            "env.task=Pendulum-v1",
            *TINY,
            f"run_dir={tmp_path / 'env.task=Pendulum-v1,seed=0'}",
        ]  # fmt: skip
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "worldmodels.evaluate",
            f"checkpoint={run_dir}",
            "episodes=1",
            "video=true",
            "device=cpu",
        ],  # fmt: skip
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads((run_dir / "eval_agent.json").read_text())
    assert "1 video(s)" in done.stdout and out["return_ci95"] is None  # one episode: no interval
    assert "warning: 1 episode(s)" in done.stderr
    frames = iio.imread(out["videos"][0])
    assert frames.ndim == 4 and frames.shape[-1] == 3 and len(frames) == out["lengths"][0] + 1
    assert frames.std() > 0


def test_planner_on_the_run_world_model_writes_the_same_outputs(tmp_path):
    run_dir = run([*AGENTS["dreamer"], *TINY, f"run_dir={tmp_path / 'dr'}"])
    out = evaluate_run(
        [
            f"checkpoint={run_dir}",
            "agent=cem",
            "trainer=debug",
            "device=cpu",
            "episodes=2",
            "video=true",
            "video_format=gif",
        ]  # fmt: skip
    )
    assert out["agent"] == "cem" and out["uses_actor"] is False
    assert [Path(v).name for v in out["videos"]] == ["eval_cem_ep0.gif"]
    with (run_dir / "eval_cem.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 2


def test_video_env_config_renders_state_runs_only():
    assert video_env_config({"suite": "dmc", "obs": "proprio"})["obs"] == "both"
    assert video_env_config({"suite": "gym", "obs": None})["obs"] == "both"
    assert video_env_config({"suite": "dmc", "obs": "pixels"})["obs"] == "pixels"
    assert video_env_config({"suite": "dmc", "obs": None})["obs"] is None  # dmc: pixels


def test_bad_inputs_are_one_line(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        evaluate_own_agent(tmp_path / "missing", 1)
    with pytest.raises(UserError, match="episodes must be >= 1"):
        run_dir = run([*AGENTS["sac"], *TINY, f"run_dir={tmp_path / 'sac'}"])
        evaluate_own_agent(run_dir, 0)
    with pytest.raises(UserError, match="video_format='avi'; valid: mp4, gif"):
        evaluate_own_agent(run_dir, 1, video_format="avi")
    with pytest.raises(UserError, match="need agent=cem"):
        evaluate_run([f"checkpoint={run_dir}", "horizon=3", "device=cpu"])
