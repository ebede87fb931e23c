"""Tier 3 for the model-free heads: a run interrupted at a checkpoint and resumed ends with exactly
the metrics and agent state (networks, targets, optimizers, counters) of an uninterrupted run,
through the real entry point on the tiny dummy envs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from worldmodels.train import run
from worldmodels.training import checkpoint

VOLATILE = ("wall_time", "perf/")  # clock readings differ between any two runs


def records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [
        {k: v for k, v in json.loads(line).items() if not k.startswith(VOLATILE)} for line in lines
    ]


def agent_tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    state, _ = checkpoint.load(run_dir)
    out = {}
    for key, value in state["agent"].items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items() if isinstance(v, torch.Tensor)})
    return out


@pytest.mark.parametrize(
    "agent,task,extra",
    [
        ("dqn", "reach_discrete", ["agent.batch=16"]),
        # also resumes the reported actor metrics
        ("sac", "reach", ["agent.batch=16", "agent.actor_every=2"]),
        ("td3", "reach", ["agent.batch=16"]),
        # a checkpoint in the middle of a rollout: the partial rollout is saved and restored
        ("ppo", "reach", ["agent.rollout=16", "agent.minibatches=2"]),
    ],
)
def test_resume_equals_uninterrupted(
    run_overrides, agent: str, task: str, extra: list[str]
) -> None:
    common = [
        f"agent={agent}",
        "env=dummy",
        f"env.task={task}",
        "env.obs=proprio",
        "agent.units=16",
        "trainer.steps=130",
        "trainer.prefill=20",
        # 10-frame episodes are 11 rows: the checkpoint at frame 65 falls on an episode's last row
        # (the loop restarts the envs on resume, exact only at an episode boundary)
        "trainer.time_limit=10",
        "trainer.checkpoint_every=65",
        "trainer.eval_every=65",
        "trainer.log_every=20",
        "logger.tensorboard=false",
        *extra,
    ]
    full = run(run_overrides(*common, name="full"))
    part = run(run_overrides(*common, "trainer.stop_after=65", name="part"))
    run(run_overrides(*common, "resume=true", name="part"))
    assert records(full) == records(part)
    a, b = agent_tensors(full), agent_tensors(part)
    assert a.keys() == b.keys() and any("optim" not in k for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
