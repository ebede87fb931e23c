"""SAC head (Haarnoja et al. 2018): twin Q with a min target, a tanh-Gaussian policy, automatic
temperature toward an entropy target (default -|A|), Polyak-averaged target critics. Pixels go
through the CNN encoder with DrQ random-shift augmentation; as in DrQ-v2 the encoder learns from the
critic loss only (the actor reads detached features) and targets use the online encoder.

One update is one backward and one fused Adam step over critic, actor and temperature (separate
learning rates as parameter groups): the actor's loss reads the critic with its parameters frozen,
so it trains the policy only and never spends compute on critic weight gradients.

With `input=latent` the head reads features of a world model it owns (worldmodels/agents/latent.py)
instead of encoding observations; its data becomes sequences and each update is a world-model step,
then SAC on the consecutive posterior features of the batch. With `imagination=true` SAC learns
purely from transitions imagined H steps ahead from those posteriors with its own policy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from worldmodels.agents.base import ActMode, Agent
from worldmodels.agents.latent import LatentState, check_modes, feature_source
from worldmodels.envs.spaces import ActSpec, ObsSpec
from worldmodels.models.actor_critic import (
    EnsembleQ,
    TanhGaussianActor,
    check_action_space,
    check_mode,
)
from worldmodels.models.base import WorldModelBase
from worldmodels.models.dists import (
    tanh_gaussian_sample,
)
from worldmodels.models.optim import (
    adam,
    autocast,
    frozen,
    polyak_,
)


class SACAgent(Agent):
    """Soft actor-critic on the shared transitions replay (continuous actions in [-1, 1]).

    Args (plain, from configs/agent/sac.yaml):
        input: "obs" (raw observations) or "latent" (world-model features, see module docstring).
        imagination: learn from imagined transitions only (needs input=latent).
        world_model: the world model of input=latent: its config node (configs/world_model/,
            `_target_` + options) or a built one (models/base.py).
        latent: latent-mode settings, the `LatentConfig` fields (batch_size, batch_length,
            horizon, train, lr, eps, clip).
        world_model_path: RUN_DIR/world_model.pt of a run to start the world model from.
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
        imagination: bool = False,
        world_model: Mapping[str, Any] | WorldModelBase | None = None,
        latent: Mapping[str, Any] | None = None,
        world_model_path: str | None = None,
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
        check_modes(input, imagination, "sac")
        check_action_space(act_spec, False, "sac")
        if actor_every < 1 or not 0.0 < tau <= 1.0:
            raise ValueError(
                f"sac: need actor_every >= 1 and 0 < tau <= 1, got {actor_every}, {tau}"
            )
        A = act_spec.dim
        self.imagination, self.gamma = imagination, gamma
        src = feature_source(
            "sac", input, obs_spec, act_spec, self.device, world_model, latent,
            world_model_path,
            batch=batch, n_step=n_step, gamma=gamma, cnn_depth=cnn_depth, aug_pad=aug_pad,
            trunk_dim=trunk_dim,
        )  # fmt: skip
        self.latent, self.encoder, self.data = src.latent, src.encoder, src.data
        if self.latent is not None:
            self.world_model = self.latent.wm
        F_, trunk = src.feat_dim, src.trunk
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
                    "params": [
                        *(self.encoder.parameters() if self.encoder is not None else ()),
                        *self.critic.parameters(),
                    ],
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

    def init_state(self, batch_size: int) -> LatentState | None:
        """Latent input: (posterior [B], previous action [B, A]); otherwise None."""
        return self.latent.init_state(batch_size) if self.latent is not None else None

    @torch.no_grad()
    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        check_mode(mode)
        if self.latent is not None:  # eval filters with posterior modes: deterministic
            feat, post = self.latent.observe(obs, state, sample=mode == "explore")
        else:
            assert self.encoder is not None
            feat = self.encoder(obs)
        mean, log_std = self.actor(feat)  # [B, A]
        if mode == "eval":
            action = torch.tanh(mean)
        else:
            action, _ = tanh_gaussian_sample(mean, log_std)
        return action, ((post, action) if self.latent is not None else state)

    def update(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One SAC step on transitions; with latent input a world-model step on the sequences
        batch first, then SAC on its posterior features (or on imagined transitions)."""
        if self.latent is None:
            assert self.encoder is not None
            with autocast(self.device):
                feat = self.encoder(batch["obs"], augment=True)  # [B, F]
                with torch.no_grad():
                    next_feat = self.encoder(batch["next_obs"], augment=True)
            return self._sac_step(
                feat, batch["action"], batch["reward"], batch["discount"], next_feat, None
            )
        return self.latent.update_head(
            batch,
            self._sac_step,
            lambda f: tanh_gaussian_sample(*self.actor(f))[0],
            self.gamma,
            self.imagination,
        )

    def _sac_step(
        self,
        feat: torch.Tensor,
        action: torch.Tensor,
        reward: torch.Tensor,
        discount: torch.Tensor,
        next_feat: torch.Tensor,
        weight: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """Critic (and every `actor_every` steps actor and temperature) step on features [M, F],
        actions [M, A], rewards/discounts [M]; `weight` [M] weighs the critic's transitions
        (None: all count). `feat` may carry the encoder's graph (it learns from the critic)."""
        update_actor = self.updates % self.actor_every == 0
        with autocast(self.device):
            alpha = self.log_alpha.exp().detach()
            with torch.no_grad():
                next_action, next_logp = tanh_gaussian_sample(*self.actor(next_feat))  # [M, A]
                q_next = self.critic_target(next_feat, next_action).min(0).values  # [M]
                target = reward + discount * (q_next.float() - alpha * next_logp.float())  # [M]
            q = self.critic(feat, action).float()  # [2, M]
            err = 0.5 * (q - target).pow(2)  # both twins regress the target
            if weight is None:
                critic_loss = err.mean(-1).sum()
            else:
                critic_loss = ((err * weight).sum(-1) / weight.sum().clamp_min(1.0)).sum()
            loss = critic_loss
            if update_actor:
                feat_pi = feat.detach()  # the encoder learns from the critic only (DrQ)
                pi_action, logp = tanh_gaussian_sample(*self.actor(feat_pi))
                with frozen(self.critic):
                    q_pi = self.critic(feat_pi, pi_action)  # [2, M]
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
        state = {
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor": self.actor.state_dict(),
            "log_alpha": {"log_alpha": self.log_alpha.detach().clone()},
            "optim": self.opt.state_dict(),
            "counters": {"updates": self.updates},
            # the last actor metrics are reported between actor steps (actor_every > 1)
            "metrics": {k: v.clone() for k, v in self._last_actor.items()},
        }
        if self.encoder is not None:
            state["encoder"] = self.encoder.state_dict()
        if self.latent is not None:
            state.update(self.latent.state_dict_parts())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.encoder is not None:
            self.encoder.load_state_dict(state["encoder"])
        if self.latent is not None:
            self.latent.load_state_dict_parts(state)
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.actor.load_state_dict(state["actor"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"]["log_alpha"])
        self.opt.load_state_dict(state["optim"])
        self.updates = int(state["counters"]["updates"])
        self._last_actor = {k: v.to(self.device) for k, v in state["metrics"].items()}
