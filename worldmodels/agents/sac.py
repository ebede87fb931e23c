"""SAC head (Haarnoja et al. 2018): twin Q with a min target, a tanh-Gaussian policy, automatic
temperature toward an entropy target (default -|A|), Polyak-averaged target critics. Pixels go
through the CNN encoder with DrQ random-shift augmentation; as in DrQ-v2 the encoder learns from the
critic loss only (the actor reads detached features) and targets use the online encoder.

One update is one backward and one fused Adam step over critic, actor and temperature (separate
learning rates as parameter groups): the actor's loss reads the critic with its parameters frozen,
so it trains the policy only and never spends compute on critic weight gradients.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from worldmodels.agents.base import ActMode, Agent, DataSpec
from worldmodels.envs.spaces import ActSpec, ObsSpec
from worldmodels.models.actor_critic import (
    EnsembleQ,
    ObsEncoder,
    TanhGaussianActor,
    adam,
    autocast,
    check_action_space,
    check_input,
    check_mode,
    frozen,
    polyak_,
    tanh_gaussian_sample,
)


class SACAgent(Agent):
    """Soft actor-critic on the shared transitions replay (continuous actions in [-1, 1]).

    Args (plain, from configs/agent/sac.yaml):
        input: "obs" (raw observations); "latent" is not available yet.
        units, layers, act, norm: actor and critic MLPs. cnn_depth, aug_pad, trunk_dim: pixels.
        batch, n_step, gamma: what the loop samples (`replay.sample_transitions`).
        actor_lr, critic_lr, alpha_lr: Adam learning rates. init_alpha: initial temperature.
        target_entropy: entropy target; None means -|A|.
        tau: Polyak rate of the target critic. actor_every: actor/temperature update period.
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
        batch: int = 256,
        n_step: int = 1,
        gamma: float = 0.99,
        actor_lr: float = 3e-4,
        critic_lr: float = 1e-3,
        alpha_lr: float = 3e-4,
        init_alpha: float = 1.0,
        target_entropy: float | None = None,
        tau: float = 0.005,
        actor_every: int = 1,
    ):
        super().__init__(obs_spec, act_spec, device)
        check_input(input, "sac")
        check_action_space(act_spec, False, "sac")
        if actor_every < 1 or not 0.0 < tau <= 1.0:
            raise ValueError(
                f"sac: need actor_every >= 1 and 0 < tau <= 1, got {actor_every}, {tau}"
            )
        self.data = DataSpec(kind="transitions", batch=batch, n_step=n_step, gamma=gamma)
        A = act_spec.dim
        self.encoder = ObsEncoder(obs_spec, cnn_depth=cnn_depth, aug_pad=aug_pad).to(self.device)
        F_, trunk = self.encoder.out_dim, (trunk_dim if self.encoder.has_image else 0)
        self.critic = EnsembleQ(F_, A, units, layers, 2, norm, act, trunk).to(self.device)
        self.actor = TanhGaussianActor(F_, A, units, layers, norm, act, trunk_dim=trunk).to(
            self.device
        )
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(float(init_alpha), device=self.device).log())
        self.target_entropy = float(-A if target_entropy is None else target_entropy)
        self.opt = adam(
            [
                {
                    "params": [*self.encoder.parameters(), *self.critic.parameters()],
                    "lr": critic_lr,
                },
                {"params": list(self.actor.parameters()), "lr": actor_lr},
                {"params": [self.log_alpha], "lr": alpha_lr},
            ],
            lr=critic_lr,
        )
        self.tau, self.actor_every = tau, actor_every
        self.updates = 0  # host counter: drives the actor period
        zero = torch.zeros((), device=self.device)
        self._last_actor = {
            "agent/actor_loss": zero,
            "agent/alpha_loss": zero,
            "agent/entropy": zero,
        }

    @torch.no_grad()
    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        check_mode(mode)
        mean, log_std = self.actor(self.encoder(obs))  # [B, A]
        if mode == "eval":
            return torch.tanh(mean), state
        action, _ = tanh_gaussian_sample(mean, log_std)
        return action, state

    def update(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        obs, next_obs, action = batch["obs"], batch["next_obs"], batch["action"]  # action [B, A]
        reward, discount = batch["reward"], batch["discount"]  # [B], [B]
        update_actor = self.updates % self.actor_every == 0
        with autocast(self.device):
            alpha = self.log_alpha.exp().detach()
            feat = self.encoder(obs, augment=True)  # [B, F]
            with torch.no_grad():
                next_feat = self.encoder(next_obs, augment=True)
                next_action, next_logp = tanh_gaussian_sample(*self.actor(next_feat))  # [B, A], [B]
                q_next = self.critic_target(next_feat, next_action).min(0).values  # [B]
                target = reward + discount * (q_next.float() - alpha * next_logp.float())  # [B]
            q = self.critic(feat, action).float()  # [2, B]
            critic_loss = 0.5 * (q - target).pow(2).mean(-1).sum()  # both twins regress the target
            loss = critic_loss
            if update_actor:
                feat_pi = feat.detach()  # the encoder learns from the critic only (DrQ)
                pi_action, logp = tanh_gaussian_sample(*self.actor(feat_pi))
                with frozen(self.critic):
                    q_pi = self.critic(feat_pi, pi_action)  # [2, B]
                actor_loss = (alpha * logp.float() - q_pi.float().min(0).values).mean()
                alpha_loss = -(
                    self.log_alpha * (logp.detach().float() + self.target_entropy)
                ).mean()
                loss = loss + actor_loss + alpha_loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        polyak_(self.critic_target, self.critic, self.tau)
        self.updates += 1
        if update_actor:
            self._last_actor = {
                "agent/actor_loss": actor_loss.detach(),
                "agent/alpha_loss": alpha_loss.detach(),
                "agent/entropy": -logp.detach().float().mean(),
            }
        return {
            "agent/critic_loss": critic_loss.detach(),
            "agent/q_mean": q.detach().mean(),
            "agent/alpha": alpha,
            **self._last_actor,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor": self.actor.state_dict(),
            "log_alpha": {"log_alpha": self.log_alpha.detach().clone()},
            "optim": self.opt.state_dict(),
            "counters": {"updates": self.updates},
            # the last actor metrics are reported between actor steps (actor_every > 1)
            "metrics": {k: v.clone() for k, v in self._last_actor.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.actor.load_state_dict(state["actor"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"]["log_alpha"])
        self.opt.load_state_dict(state["optim"])
        self.updates = int(state["counters"]["updates"])
        self._last_actor = {k: v.to(self.device) for k, v in state["metrics"].items()}
