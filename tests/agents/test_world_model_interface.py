"""A world model is a component (models/base.py, configs/world_model/): a stand-in world model
that is not an RSSM (tests/agents/stand_in_world_model.py + tests/configs/world_model/
stand_in.yaml, one file and one yaml) drives Dreamer, CEM and latent SAC through the real entry
point; and `compare` works on every run that has a world model (Dreamer, CEM, latent SAC, latent
PPO), and says in one line why not on a run that has none."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from tests.agents.stand_in_world_model import StandInWorldModel
from worldmodels.compare import compare_run
from worldmodels.models.build import load_world_model
from worldmodels.train import UserError, run

ROOT = Path(__file__).resolve().parents[2]
STAND_IN = [
    f"hydra.searchpath=[file://{ROOT / 'tests' / 'configs'}]",
    "world_model@agent.world_model=stand_in",
]
TINY_ENV = ["size=xs", "env=dummy", "env.task=reach", "env.obs=proprio", "logger.tensorboard=false"]
HEADS = {
    "dreamer": ["agent=dreamer", "agent.batch_size=4", "agent.batch_length=8", "agent.horizon=3"],
    "cem": [
        "agent=cem",
        "agent.batch_size=4",
        "agent.batch_length=8",
        "agent.horizon=3",
        "agent.candidates=16",
        "agent.iterations=2",
        "agent.elites=4",
    ],
    "sac_latent": [
        "agent=sac",
        "agent.input=latent",
        "agent.latent.batch_size=4",
        "agent.latent.batch_length=8",
        "agent.units=16",
        "agent.batch=8",
    ],
    "ppo_latent": ["agent=ppo", "agent.input=latent", "agent.units=16", "agent.rollout=16"],
}


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("head", ["dreamer", "cem", "sac_latent"])
def test_stand_in_world_model_drives_every_head(run_overrides, head: str) -> None:
    run_dir = run(run_overrides(*TINY_ENV, *HEADS[head], *STAND_IN, name=head))
    metrics = _metrics(run_dir)
    assert metrics[-1]["grad_steps"] > 0
    trained = [m for m in metrics if "wm/loss/dyn" in m]  # the stand-in's own loss terms
    assert trained and all(set(m) >= {"wm/loss/reward", "wm/loss/recon"} for m in trained)
    assert any("eval/return_mean" in m for m in metrics)
    # world_model.pt records the class that wrote it: it rebuilds without the run's config
    wm = load_world_model(run_dir)
    assert type(wm) is StandInWorldModel and wm.config() == {"width": 8}
    payload = torch.load(run_dir / "world_model.pt", weights_only=False)
    assert payload["_target_"] == "tests.agents.stand_in_world_model.StandInWorldModel"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = ["trainer=debug", "device=cpu", "logger.progress=false", "logger.video=false"]
    root = tmp_path_factory.mktemp("every_run")
    out = {}
    for head in ("dreamer", "cem", "sac_latent", "ppo_latent"):
        out[head] = run([*base, *TINY_ENV, *HEADS[head], f"run_dir={root / head}"])
    out["sac"] = run([*base, *TINY_ENV, "agent=sac", "agent.units=16", f"run_dir={root / 'sac'}"])
    return out


@pytest.mark.parametrize("head", ["dreamer", "cem", "sac_latent", "ppo_latent"])
def test_compare_writes_its_table_on_every_run_with_a_world_model(runs, head: str) -> None:
    rows = compare_run([f"checkpoint={runs[head]}", "trainer=debug", "device=cpu", "episodes=1"])
    names = [r[0] for r in rows]
    planners = ["cem", "mppi", "random_shooting"]
    # the run's own agent first; MPPI with a planning prior only for the agent that offers one
    prior = ["mppi_actor_value"] if head == "dreamer" else []
    assert names == ["actor", *planners, *prior, "random"]
    with (runs[head] / "compare.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [r["agent"] for r in table] == names
    assert all(int(r["episodes"]) == 1 and float(r["ms_per_action"]) > 0 for r in table)
    assert "| actor |" in (runs[head] / "compare.md").read_text()


def test_compare_on_a_run_without_a_world_model_says_why(runs) -> None:
    with pytest.raises(UserError, match=r"has no world model to plan with \(SACAgent"):
        compare_run([f"checkpoint={runs['sac']}", "trainer=debug", "device=cpu"])
