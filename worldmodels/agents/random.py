"""The random agent: uniform actions in [-1, 1] (continuous) or uniform one-hot (discrete).

It proves the whole pipeline (envs, replay, loop, evaluation, checkpoints) without learning.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from worldmodels.agents.base import ActMode, Agent, DataSpec
from worldmodels.envs.spaces import ActSpec, ObsSpec


class RandomAgent(Agent):
    """Uniformly random actions; never updated."""

    def __init__(self, obs_spec: ObsSpec, act_spec: ActSpec, device: str | torch.device = "cpu"):
        super().__init__(obs_spec, act_spec, device)
        self.data = DataSpec(kind="none")

    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        batch = obs["is_first"].shape[0]
        return random_actions(self.act_spec, batch, self.device), state


def random_actions(act_spec: ActSpec, batch: int, device: torch.device) -> torch.Tensor:
    """Uniform random actions [B, A] in the pipeline's action format (also used for prefill)."""
    if act_spec.discrete:
        idx = torch.randint(act_spec.dim, (batch,), device=device)
        return F.one_hot(idx, act_spec.dim).float()
    return torch.rand(batch, act_spec.dim, device=device) * 2 - 1
