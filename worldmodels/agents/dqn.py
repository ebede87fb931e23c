"""DQN head: double DQN with a dueling head, n-step targets (from the replay), Huber loss, a target
network (hard copy every `target_every` updates, or Polyak with `target_tau < 1`), and an
epsilon-greedy schedule in explore mode (eval is greedy). Pixels go through the CNN encoder with
DrQ random-shift augmentation.

Discrete actions only: actions are one-hot [B, A] in and out.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worldmodels.agents.base import ActMode, Agent, DataSpec
from worldmodels.envs.spaces import ActSpec, ObsSpec
from worldmodels.models.actor_critic import (
    DuelingQ,
    ObsEncoder,
    activation,
    adam,
    autocast,
    check_action_space,
    check_input,
    check_mode,
    clip_grads,
    make_trunk,
    polyak_,
)
from worldmodels.models.nets import mlp


class QNetwork(nn.Module):
    """Observation dict -> Q values [B, A]: encoder, then a dueling (or plain MLP) head."""

    def __init__(
        self,
        obs_spec: ObsSpec,
        n_actions: int,
        units: int,
        layers: int,
        norm: bool,
        act: str,
        dueling: bool,
        cnn_depth: int,
        aug_pad: int,
        trunk_dim: int,
    ):
        super().__init__()
        self.encoder = ObsEncoder(obs_spec, cnn_depth=cnn_depth, aug_pad=aug_pad)
        trunk = trunk_dim if self.encoder.has_image else 0
        self.head: nn.Module
        if dueling:
            self.head = DuelingQ(self.encoder.out_dim, n_actions, units, layers, norm, act, trunk)
        else:
            trunk_net, dim = make_trunk(self.encoder.out_dim, trunk)
            self.head = nn.Sequential(
                trunk_net, mlp(dim, n_actions, units, layers, norm=norm, act=activation(act))
            )

    def forward(self, obs: dict[str, torch.Tensor], augment: bool = False) -> torch.Tensor:
        return self.head(self.encoder(obs, augment))  # [B, A]


class DQNAgent(Agent):
    """Double / dueling / n-step DQN on the shared transitions replay.

    Args (plain, from configs/agent/dqn.yaml):
        input: "obs" (raw observations); "latent" is not available yet.
        units, layers, act, norm: the Q head's MLP. cnn_depth, aug_pad, trunk_dim: pixel encoder.
        batch, n_step, gamma: what the loop samples (`replay.sample_transitions`).
        lr, adam_eps, max_grad_norm: optimizer.
        target_every, target_tau: target sync every N updates; tau=1 is a hard copy.
        eps_start, eps_end, eps_decay_steps: linear epsilon schedule over env steps acted in
            explore mode (counted on the host).
        double, dueling: the two DQN improvements (switches for ablations).
    """

    def __init__(
        self,
        obs_spec: ObsSpec,
        act_spec: ActSpec,
        device: str | torch.device = "cpu",
        input: str = "obs",
        units: int = 256,
        layers: int = 2,
        act: str = "relu",
        norm: bool = False,
        cnn_depth: int = 32,
        aug_pad: int = 4,
        trunk_dim: int = 50,
        batch: int = 64,
        n_step: int = 3,
        gamma: float = 0.99,
        lr: float = 1e-3,
        adam_eps: float = 1e-8,
        max_grad_norm: float = 10.0,
        target_every: int = 1,
        target_tau: float = 0.01,
        eps_start: float = 1.0,
        eps_end: float = 0.02,
        eps_decay_steps: int = 8_000,
        double: bool = True,
        dueling: bool = True,
    ):
        super().__init__(obs_spec, act_spec, device)
        check_input(input, "dqn")
        check_action_space(act_spec, True, "dqn")
        if not 0.0 < target_tau <= 1.0 or target_every < 1:
            raise ValueError(
                f"dqn: need 0 < target_tau <= 1 and target_every >= 1, "
                f"got {target_tau}, {target_every}"
            )
        self.data = DataSpec(kind="transitions", batch=batch, n_step=n_step, gamma=gamma)
        self.q = QNetwork(
            obs_spec, act_spec.dim, units, layers, norm, act, dueling, cnn_depth, aug_pad, trunk_dim
        )
        self.q.to(self.device)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.params = list(self.q.parameters())
        self.opt = adam(self.params, lr, adam_eps)
        self.max_grad_norm = max_grad_norm
        self.target_every, self.target_tau = target_every, target_tau
        self.eps_start, self.eps_end, self.eps_decay_steps = eps_start, eps_end, eps_decay_steps
        self.double = double
        self.updates = 0  # gradient updates so far (host counter: drives target syncs)
        self.env_steps = 0  # env steps acted in explore mode (host counter: drives epsilon)

    def epsilon(self) -> float:
        """Linear decay from eps_start to eps_end over eps_decay_steps explore env steps."""
        frac = min(self.env_steps / max(self.eps_decay_steps, 1), 1.0)
        return self.eps_start + frac * (self.eps_end - self.eps_start)

    @torch.no_grad()
    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        check_mode(mode)
        q = self.q(obs)  # [B, A]
        idx = q.argmax(-1)  # [B]
        if mode == "explore":
            B, A = q.shape
            random_idx = torch.randint(A, (B,), device=q.device)
            idx = torch.where(torch.rand(B, device=q.device) < self.epsilon(), random_idx, idx)
            self.env_steps += B
        return F.one_hot(idx, self.act_spec.dim).float(), state

    def update(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        obs, next_obs = batch["obs"], batch["next_obs"]
        action = batch["action"].argmax(-1)  # [B] (one-hot in)
        reward, discount = batch["reward"], batch["discount"]  # [B], [B]
        with autocast(self.device):
            with torch.no_grad():
                q_next_target = self.q_target(next_obs, augment=True)  # [B, A]
                if self.double:  # the online net picks, the target net evaluates
                    next_action = self.q(next_obs, augment=True).argmax(-1, keepdim=True)
                else:
                    next_action = q_next_target.argmax(-1, keepdim=True)
                target = reward + discount * q_next_target.gather(-1, next_action).squeeze(
                    -1
                )  # [B]
            q = self.q(obs, augment=True)  # [B, A]
            q_taken = q.gather(-1, action[:, None]).squeeze(-1).float()  # [B]
            loss = F.smooth_l1_loss(q_taken, target.float())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grads(self.params, self.max_grad_norm)
        self.opt.step()
        self.updates += 1
        if self.updates % self.target_every == 0:
            polyak_(self.q_target, self.q, self.target_tau)
        return {
            "agent/q_loss": loss.detach(),
            "agent/q_mean": q_taken.detach().mean(),
            "agent/target_mean": target.mean(),
            "agent/grad_norm": grad_norm,
        }

    def observe_metrics(self) -> dict[str, float]:
        return {"agent/epsilon": self.epsilon()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "q": self.q.state_dict(),
            "q_target": self.q_target.state_dict(),
            "optim": self.opt.state_dict(),
            "counters": {"updates": self.updates, "env_steps": self.env_steps},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        self.opt.load_state_dict(state["optim"])
        self.updates = int(state["counters"]["updates"])
        self.env_steps = int(state["counters"]["env_steps"])
