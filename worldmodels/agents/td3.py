"""TD3 head (Fujimoto et al. 2018): twin Q with a min target, target policy smoothing noise,
delayed actor and target updates (every `policy_delay` critic updates, by a host counter), and
Gaussian exploration noise. Pixels: CNN encoder with DrQ random-shift augmentation, trained by the
critic loss only (DrQ-v2's layout).

On actor steps the critic and actor losses share one backward and one fused Adam step: the actor's
loss reads Q1 with the critic's parameters frozen, so it trains the policy only.

With `input=latent` the head reads features of a world model it owns (worldmodels/agents/latent.py)
instead of encoding observations; its data becomes sequences and each update is a world-model step,
then TD3 on the consecutive posterior features of the batch. With `imagination=true` TD3 learns
purely from transitions imagined H steps ahead from those posteriors with its own (noisy) policy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from worldmodels.agents.base import ActMode, Agent
from worldmodels.agents.latent import LatentState, check_modes, feature_source
from worldmodels.envs.spaces import ActSpec, ObsSpec
from worldmodels.models.actor_critic import (
    DeterministicActor,
    EnsembleQ,
    check_action_space,
    check_mode,
)
from worldmodels.models.base import WorldModelBase
from worldmodels.models.optim import (
    adam,
    autocast,
    frozen,
    polyak_,
)


class TD3Agent(Agent):
    """Twin delayed DDPG on the shared transitions replay (continuous actions in [-1, 1]).

    Args (plain, from configs/agent/td3.yaml):
        input: "obs" (raw observations) or "latent" (world-model features, see module docstring).
        imagination: learn from imagined transitions only (needs input=latent).
        world_model: the world model of input=latent: its config node (configs/world_model/,
            `_target_` + options) or a built one (models/base.py).
        latent: latent-mode settings, the `LatentConfig` fields (batch_size, batch_length,
            horizon, train, lr, eps, clip).
        world_model_path: RUN_DIR/world_model.pt of a run to start the world model from.
        units, layers, act, norm: actor and critic MLPs. cnn_depth, aug_pad, trunk_dim: pixels.
        batch, n_step, gamma: what the loop samples (`replay.sample_transitions`).
        actor_lr, critic_lr: Adam learning rates. tau: Polyak rate of both targets.
        policy_delay: critic updates per actor (and target) update.
        policy_noise, noise_clip: target smoothing noise (std, clip), in action units ([-1, 1]).
        explore_noise: std of the Gaussian added to actions in explore mode.
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
        tau: float = 0.005,
        policy_delay: int = 2,
        policy_noise: float = 0.2,
        noise_clip: float = 0.5,
        explore_noise: float = 0.1,
    ):
        super().__init__(obs_spec, act_spec, device)
        check_modes(input, imagination, "td3")
        check_action_space(act_spec, False, "td3")
        if policy_delay < 1 or not 0.0 < tau <= 1.0:
            raise ValueError(
                f"td3: need policy_delay >= 1 and 0 < tau <= 1, got {policy_delay}, {tau}"
            )
        A = act_spec.dim
        self.imagination, self.gamma = imagination, gamma
        src = feature_source(
            "td3", input, obs_spec, act_spec, self.device, world_model, latent,
            world_model_path,
            batch=batch, n_step=n_step, gamma=gamma, cnn_depth=cnn_depth, aug_pad=aug_pad,
            trunk_dim=trunk_dim,
        )  # fmt: skip
        self.latent, self.encoder, self.data = src.latent, src.encoder, src.data
        if self.latent is not None:
            self.world_model = self.latent.wm
        F_, trunk = src.feat_dim, src.trunk
        self.critic = EnsembleQ(F_, A, units, layers, 2, norm, act, trunk).to(self.device)
        self.actor = DeterministicActor(F_, A, units, layers, norm, act, trunk).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
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
            ],
            lr=critic_lr,
        )
        self.tau, self.policy_delay = tau, policy_delay
        self.policy_noise, self.noise_clip, self.explore_noise = (
            policy_noise,
            noise_clip,
            explore_noise,
        )
        self.updates = 0  # host counter: drives the delayed actor and target updates
        self._last_actor_loss = torch.zeros((), device=self.device)

    def init_state(self, batch_size: int) -> LatentState | None:
        """Latent input: (posterior [B], previous action [B, A]); otherwise None."""
        return self.latent.init_state(batch_size) if self.latent is not None else None

    def _explore(self, action: torch.Tensor) -> torch.Tensor:
        """Gaussian exploration noise, clipped to the action box [-1, 1]."""
        return (action + self.explore_noise * torch.randn_like(action)).clamp(-1.0, 1.0)

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
        action = self.actor(feat)  # [B, A]
        if mode == "explore":
            action = self._explore(action)
        return action, ((post, action) if self.latent is not None else state)

    def update(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One TD3 step on transitions; with latent input a world-model step on the sequences
        batch first, then TD3 on its posterior features (or on imagined transitions)."""
        if self.latent is None:
            assert self.encoder is not None
            with autocast(self.device):
                feat = self.encoder(batch["obs"], augment=True)  # [B, F]
                with torch.no_grad():
                    next_feat = self.encoder(batch["next_obs"], augment=True)
            return self._step(
                feat, batch["action"], batch["reward"], batch["discount"], next_feat, None
            )
        # imagined behaviour explores as the real one does: the critic needs off-policy actions
        return self.latent.update_head(
            batch, self._step, lambda f: self._explore(self.actor(f)), self.gamma, self.imagination
        )

    def _step(
        self,
        feat: torch.Tensor,
        action: torch.Tensor,
        reward: torch.Tensor,
        discount: torch.Tensor,
        next_feat: torch.Tensor,
        weight: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """Critic (and every `policy_delay` steps actor and targets) step on features [M, F],
        actions [M, A], rewards/discounts [M]; `weight` [M] weighs the critic's transitions
        (None: all count). `feat` may carry the encoder's graph (it learns from the critic)."""
        update_actor = self.updates % self.policy_delay == 0
        with autocast(self.device):
            with torch.no_grad():
                next_action = self.actor_target(next_feat)  # [M, A]
                noise = (self.policy_noise * torch.randn_like(next_action)).clamp(
                    -self.noise_clip, self.noise_clip
                )
                next_action = (next_action + noise).clamp(-1.0, 1.0)
                q_next = self.critic_target(next_feat, next_action).min(0).values  # [M]
                target = reward + discount * q_next.float()  # [M]
            q = self.critic(feat, action).float()  # [2, M]
            err = (q - target).pow(2)
            if weight is None:  # sum of the twins' MSEs (TD3)
                critic_loss = err.mean(-1).sum()
            else:
                critic_loss = ((err * weight).sum(-1) / weight.sum().clamp_min(1.0)).sum()
            loss = critic_loss
            if update_actor:
                feat_pi = feat.detach()  # the encoder learns from the critic only (DrQ-v2)
                with frozen(self.critic):  # Q1 only, as TD3
                    q1_pi = self.critic(feat_pi, self.actor(feat_pi), members=1)[0]
                actor_loss = -q1_pi.float().mean()
                loss = loss + actor_loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if update_actor:
            polyak_(self.critic_target, self.critic, self.tau)
            polyak_(self.actor_target, self.actor, self.tau)
            self._last_actor_loss = actor_loss.detach()
        self.updates += 1
        return {
            "agent/critic_loss": critic_loss.detach(),
            "agent/q_mean": q.detach().mean(),
            "agent/actor_loss": self._last_actor_loss,
        }

    def state_dict(self) -> dict[str, Any]:
        state = {
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor": self.actor.state_dict(),
            "actor_target": self.actor_target.state_dict(),
            "optim": self.opt.state_dict(),
            "counters": {"updates": self.updates},
            # the last actor loss is reported between delayed actor steps: resume it too
            "metrics": {"actor_loss": self._last_actor_loss.clone()},
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
        self.actor_target.load_state_dict(state["actor_target"])
        self.opt.load_state_dict(state["optim"])
        self.updates = int(state["counters"]["updates"])
        self._last_actor_loss = state["metrics"]["actor_loss"].to(self.device)
