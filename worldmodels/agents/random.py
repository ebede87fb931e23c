"""The random agent: uniform actions in [-1, 1] (continuous) or uniform one-hot (discrete).

It proves the whole pipeline (envs, replay, loop, evaluation, checkpoints) without learning.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from worldmodels.agents.base import ActMode, Agent, DataSpec
from worldmodels.envs.spaces import ActSpec, ObsSpec, sample_actions


class RandomAgent(Agent):
    """Uniformly random actions (the loop's prefill sampler); never updated. Its generator state
    is part of `state_dict`, so a resumed run draws the same actions."""

    def __init__(
        self,
        obs_spec: ObsSpec,
        act_spec: ActSpec,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ):
        super().__init__(obs_spec, act_spec, device)
        self.data = DataSpec(kind="none")
        self.rng = np.random.default_rng(torch.initial_seed() if seed is None else seed)

    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        batch = obs["is_first"].shape[0]
        action = sample_actions(self.act_spec, batch, self.rng)  # [B, A]
        return torch.as_tensor(action, device=self.device), state

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
