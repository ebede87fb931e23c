"""A stand-in world model for the tests: not an RSSM, one file plus one yaml
(tests/configs/world_model/stand_in.yaml), to show that Dreamer, the planners and the latent
heads need nothing but the interface (worldmodels/models/base.py).

A deterministic recurrent latent h [B, F]: the posterior h_t = tanh(W [x_t, a_{t-1}] + U h_{t-1})
from the flattened observation x_t (reset where is_first), the prior the same step without the
observation; a linear reward head and a linear observation decoder; losses: reward and
reconstruction errors and the prior's distance to the posterior.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from worldmodels.envs.spaces import ActSpec, ObsSpec
from worldmodels.models.base import Objective, Policy, Rollout, State, WorldModelBase
from worldmodels.models.nets import image_to_float


class StandInWorldModel(WorldModelBase):
    def __init__(self, obs_spec: ObsSpec, act_spec: ActSpec, width: int = 8):
        super().__init__()
        self.obs_spec, self.act_spec, self.width = obs_spec, act_spec, int(width)
        self.obs_dim = sum(int(torch.tensor(s.shape).prod()) for s in obs_spec.values())
        self.post = nn.Linear(self.obs_dim + act_spec.dim + width, width)
        self.prior = nn.Linear(act_spec.dim + width, width)
        self.reward = nn.Linear(width, 1)
        self.decoder = nn.Linear(width, self.obs_dim)

    @property
    def feat_dim(self) -> int:
        return self.width

    def config(self) -> dict[str, Any]:
        return {"width": self.width}

    def initial(self, batch: int) -> State:
        return {"h": torch.zeros(batch, self.width, device=self.device)}

    def feat(self, state: State) -> torch.Tensor:
        return state["h"]

    def _flat_obs(self, obs: Mapping[str, torch.Tensor], lead: int) -> torch.Tensor:
        parts = []
        for k, s in self.obs_spec.items():
            x = image_to_float(obs[k]) if s.dtype == "uint8" else obs[k].float()
            parts.append(x.reshape(*x.shape[:lead], -1))
        return torch.cat(parts, -1)

    def observe(self, state, obs, prev_action, is_first, sample=True):
        single = is_first.dim() == 1
        lead = 1 if single else 2
        x = self._flat_obs(obs, lead)
        if single:
            x, prev_action, is_first = x[:, None], prev_action[:, None], is_first[:, None]
        h = (state or self.initial(is_first.shape[0]))["h"]
        hs = []
        for t in range(is_first.shape[1]):
            keep = (~is_first[:, t]).float()[:, None]
            h = torch.tanh(self.post(torch.cat([x[:, t], prev_action[:, t] * keep, h * keep], -1)))
            hs.append(h)
        out = torch.stack(hs, 1)  # [B, T, F]
        post = {"h": out[:, 0] if single else out}
        return post, post["h"]

    def _step(self, h: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.prior(torch.cat([action, h], -1)))

    def imagine(self, start: State, policy_or_actions: Policy | torch.Tensor, horizon: int):
        h = start["h"].reshape(-1, self.width)
        hs, actions = [h], []
        for t in range(horizon):
            a = policy_or_actions(h) if callable(policy_or_actions) else policy_or_actions[t]
            h = self._step(h, a)
            hs.append(h)
            actions.append(a)
        feat = torch.stack(hs)  # [H+1, N, F]
        reward = self.reward(feat[1:]).squeeze(-1)  # [H, N]
        return Rollout(feat, torch.stack(actions), reward, torch.ones_like(reward), {"h": feat})

    def objective(self, batch, start=None, prev_action=None):
        from worldmodels.models.base import shift_actions

        is_first = batch["is_first"]
        prev = shift_actions(batch["action"], is_first) if prev_action is None else prev_action
        post, feat = self.observe(start, batch, prev, is_first)
        x = self._flat_obs(batch, 2)
        prior = self._step(feat[:, :-1].detach(), batch["action"][:, :-1])  # [B, T-1, F]
        terms = {
            "reward": (self.reward(feat).squeeze(-1) - batch["reward"].float()) ** 2,
            "recon": ((self.decoder(feat) - x) ** 2).mean(-1),
            "dyn": nn.functional.pad(((prior - feat[:, 1:].detach()) ** 2).mean(-1), (1, 0)),
        }
        loss = sum(v.mean() for v in terms.values())
        assert isinstance(loss, torch.Tensor)
        return Objective(loss, terms, post, {})
