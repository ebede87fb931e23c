"""TD3 head (Fujimoto et al. 2018): twin Q with a min target, target policy smoothing noise,
delayed actor and target updates (every `policy_delay` critic updates, by a host counter), and
Gaussian exploration noise. Pixels: CNN encoder with DrQ random-shift augmentation, trained by the
critic loss only (DrQ-v2's layout).

On actor steps the critic and actor losses share one backward and one fused Adam step: the actor's
loss reads Q1 with the critic's parameters frozen, so it trains the policy only.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from worldmodels.agents.base import ActMode, Agent, DataSpec
from worldmodels.envs.spaces import ActSpec, ObsSpec
from worldmodels.models.actor_critic import (
    DeterministicActor,
    EnsembleQ,
    ObsEncoder,
    adam,
    autocast,
    check_action_space,
    check_input,
    check_mode,
    frozen,
    polyak_,
)


class TD3Agent(Agent):
    """Twin delayed DDPG on the shared transitions replay (continuous actions in [-1, 1]).

    Args (plain, from configs/agent/td3.yaml):
        input: "obs" (raw observations); "latent" is not available yet.
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
        check_input(input, "td3")
        check_action_space(act_spec, False, "td3")
        if policy_delay < 1 or not 0.0 < tau <= 1.0:
            raise ValueError(
                f"td3: need policy_delay >= 1 and 0 < tau <= 1, got {policy_delay}, {tau}"
            )
        self.data = DataSpec(kind="transitions", batch=batch, n_step=n_step, gamma=gamma)
        A = act_spec.dim
        self.encoder = ObsEncoder(obs_spec, cnn_depth=cnn_depth, aug_pad=aug_pad).to(self.device)
        F_, trunk = self.encoder.out_dim, (trunk_dim if self.encoder.has_image else 0)
        self.critic = EnsembleQ(F_, A, units, layers, 2, norm, act, trunk).to(self.device)
        self.actor = DeterministicActor(F_, A, units, layers, norm, act, trunk).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.opt = adam(
            [
                {
                    "params": [*self.encoder.parameters(), *self.critic.parameters()],
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

    @torch.no_grad()
    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        check_mode(mode)
        action = self.actor(self.encoder(obs))  # [B, A]
        if mode == "explore":
            action = (action + self.explore_noise * torch.randn_like(action)).clamp(-1.0, 1.0)
        return action, state

    def update(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        obs, next_obs, action = batch["obs"], batch["next_obs"], batch["action"]  # action [B, A]
        reward, discount = batch["reward"], batch["discount"]  # [B], [B]
        update_actor = self.updates % self.policy_delay == 0
        with autocast(self.device):
            feat = self.encoder(obs, augment=True)  # [B, F]
            with torch.no_grad():
                next_feat = self.encoder(next_obs, augment=True)
                next_action = self.actor_target(next_feat)  # [B, A]
                noise = (self.policy_noise * torch.randn_like(next_action)).clamp(
                    -self.noise_clip, self.noise_clip
                )
                next_action = (next_action + noise).clamp(-1.0, 1.0)
                q_next = self.critic_target(next_feat, next_action).min(0).values  # [B]
                target = reward + discount * q_next.float()  # [B]
            q = self.critic(feat, action).float()  # [2, B]
            critic_loss = (q - target).pow(2).mean(-1).sum()  # sum of the twins' MSEs (TD3)
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
        return {
            "encoder": self.encoder.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor": self.actor.state_dict(),
            "actor_target": self.actor_target.state_dict(),
            "optim": self.opt.state_dict(),
            "counters": {"updates": self.updates},
            # the last actor loss is reported between delayed actor steps: resume it too
            "metrics": {"actor_loss": self._last_actor_loss.clone()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.actor.load_state_dict(state["actor"])
        self.actor_target.load_state_dict(state["actor_target"])
        self.opt.load_state_dict(state["optim"])
        self.updates = int(state["counters"]["updates"])
        self._last_actor_loss = state["metrics"]["actor_loss"].to(self.device)
