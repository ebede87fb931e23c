"""Tier-4 learning checks for model-free heads on a world model (worldmodels/agents/latent.py),
through the real entry point, CPU: SAC and DQN on the features of a world model trained alongside
(`agent.input=latent`), and PPO learning purely from imagined rollouts (`agent.imagination=true`).

The task is the dummy 1-D `reach` from its state vector ([x, goal]; `reach_discrete` for DQN:
actions -1/0/+1): 30 steps, reward 1 - |x - goal| after each move. Random policy: 10.8 +- 12.7 per
episode (300 episodes); optimal: 28.8 +- 1.7. The world model is DreamerV3's at size xs with 16 x 16
sequences and a raised learning rate (3e-3), as in the Dreamer reach check; the heads keep their
default settings. Statistic: the final evaluation (mean return of 20 eval-mode episodes).

Measured on the 2-core CPU (final evaluation; seeds 0 / 1 / 2):
- SAC on features, 3000 steps: 26.7 / 25.9 / 25.7 (about 40 s each).
- DQN on features (reach_discrete), 3000 steps: 26.8 / 26.6 / 26.4 (about 30 s each).
- PPO in imagination, 2000 steps: 27.1 / 26.7 / 25.9 (about 50-80 s each). Before PPO's
  log-prob counted the clipped action tails it fell to -1.5 (pinned at a wall) with these settings.
Thresholds: 22, as the Dreamer reach check, well under every measured seed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from worldmodels.train import run

pytestmark = pytest.mark.learning

THRESHOLD = 22.0
#: World model at size xs, trained fast enough for CI (as tests/agents/test_dreamer_learning.py).
WORLD_MODEL = [
    "size=xs",
    "agent.input=latent",
    "agent.latent.batch_size=16",
    "agent.latent.batch_length=16",
    "agent.latent.lr=3e-3",
]
QUIET = [
    "trainer.checkpoint_every=100000",
    "trainer.save_replay=false",
    "trainer.time_limit=null",
    "logger.video=false",
    "logger.tensorboard=false",
    "trainer.num_envs=4",
    "trainer.async_envs=false",
    "trainer.prefill=300",
    "trainer.train_ratio=80",
    "trainer.eval_every=500",
    "trainer.eval_episodes=20",
    "trainer.log_every=500",
]


def final_eval(run_overrides, name: str, *overrides: str) -> tuple[float, list[float]]:
    start = time.time()
    run_dir: Path = run(
        run_overrides("env=dummy", "env.obs=proprio", "seed=0", *WORLD_MODEL, *QUIET, *overrides,
                      name=name)
    )  # fmt: skip
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    evals = [float(m["eval/return_mean"]) for m in rows if "eval/return_mean" in m]
    print(f"{name}: evals {evals}, {time.time() - start:.0f} s")
    return evals[-1], evals


@pytest.mark.timeout(600)
def test_sac_learns_reach_on_world_model_features(run_overrides):
    final, evals = final_eval(
        run_overrides, "sac_latent", "agent=sac", "env.task=reach", "trainer.steps=3000"
    )
    assert final >= THRESHOLD, f"final eval return {final} < {THRESHOLD} (evals {evals})"


@pytest.mark.timeout(600)
def test_dqn_learns_reach_on_world_model_features(run_overrides):
    final, evals = final_eval(
        run_overrides, "dqn_latent", "agent=dqn", "env.task=reach_discrete", "trainer.steps=3000"
    )
    assert final >= THRESHOLD, f"final eval return {final} < {THRESHOLD} (evals {evals})"


@pytest.mark.timeout(600)
def test_ppo_learns_reach_in_imagination(run_overrides):
    final, evals = final_eval(
        run_overrides,
        "ppo_imagination",
        "agent=ppo",
        "env.task=reach",
        "agent.imagination=true",
        "trainer.steps=2000",
    )
    assert final >= THRESHOLD, f"final eval return {final} < {THRESHOLD} (evals {evals})"
