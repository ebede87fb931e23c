"""A non-finite loss stops the run with one message naming the step and the terms, and the last
good checkpoint stays."""

from __future__ import annotations

import json

import pytest
import torch

from worldmodels.agents.base import DataSpec
from worldmodels.agents.random import RandomAgent
from worldmodels.data.replay import Replay
from worldmodels.data.store import ReplayStore
from worldmodels.envs.make import make_vec_env
from worldmodels.envs.spaces import row_spec
from worldmodels.logger.metrics import Logger
from worldmodels.training import checkpoint
from worldmodels.training.clocks import Ratio
from worldmodels.training.loop import Loop, NonFiniteLossError, TrainerConfig


class DivergingAgent(RandomAgent):
    """Acts randomly; its loss turns NaN from the 31st update on."""

    def __init__(self, obs_spec, act_spec, device="cpu"):
        super().__init__(obs_spec, act_spec, device)
        self.data = DataSpec("transitions", batch=4, n_step=1)
        self.updates = 0

    def update(self, batch):
        self.updates += 1
        loss = float("nan") if self.updates > 30 else 1.0
        return {"agent/critic_loss": torch.tensor(loss), "agent/q_mean": torch.tensor(0.0)}

    def state_dict(self):
        return {"updates": self.updates}


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    env_cfg = {"suite": "dummy", "task": "reach", "obs": "proprio"}
    envs = make_vec_env(env_cfg, 1, 0, asynchronous=False)
    agent = DivergingAgent(envs.obs_spec, envs.act_spec)
    replay = Replay(row_spec(envs.obs_spec, envs.act_spec), 500, 1)
    cfg = TrainerConfig(
        steps=200, prefill=20, train_ratio=4, num_envs=1, async_envs=False, time_limit=None,
        log_every=100, eval_every=0, eval_episodes=1, checkpoint_every=20, progress=False,
    )  # fmt: skip
    logger = Logger(tmp_path, tensorboard=False, console=False)
    store = ReplayStore(replay, agent.data, Ratio(cfg.train_ratio / 4), cfg.prefill)
    loop = Loop(cfg, envs, None, agent, store, logger, tmp_path, 1, 0, {})
    with pytest.raises(NonFiniteLossError) as err:
        loop.run()
    loop.close()
    message = str(err.value)
    assert "\n" not in message and "agent/critic_loss=nan" in message and "q_mean" not in message
    assert "env frame 60" in message
    state, _ = checkpoint.load(tmp_path)
    assert state["counters"]["env_frames"] == 40 and state["agent"]["updates"] <= 30
    assert json.loads((tmp_path / "status.json").read_text())["state"] == "failed"
