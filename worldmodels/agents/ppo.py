"""PPO head (Schulman et al. 2017): clipped surrogate, GAE from the shared rollout buffer, value
loss (optionally clipped), entropy bonus, per-minibatch advantage normalization, minibatch epochs
over the rollout of all vector envs, discrete (categorical, one-hot actions) and continuous
(Gaussian, clipped to [-1, 1] at act time) policies, and optional running observation
normalization.

The loop fills `worldmodels.data.rollout.RolloutBuffer` with rows [T+1, N] and calls
`update(buffer)` when it is full. The policy does not change during collection, so values and old
log-probs are computed here, in one batched pass at the start of the update, instead of being
carried through the loop. Rows that carry no transition (episode ends) are masked out, which keeps
every tensor shape static (no boolean indexing, no host sync).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from worldmodels.agents.base import ActMode, Agent, DataSpec
from worldmodels.envs.spaces import VECTOR_KEY, ActSpec, ObsSpec
from worldmodels.models.actor_critic import (
    GaussianActor,
    ObsEncoder,
    RunningMeanStd,
    activation,
    adam,
    autocast,
    categorical_entropy,
    categorical_log_prob,
    check_input,
    check_mode,
    clip_grads,
    gaussian_entropy,
    gaussian_log_prob,
    orthogonal_init,
)
from worldmodels.models.nets import mlp


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over the rows where mask is 1: [M] x [M] -> []."""
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def clipped_surrogate(
    log_ratio: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, clip: float
) -> torch.Tensor:
    """PPO's policy loss: mean of max(-A r, -A clip(r, 1 - eps, 1 + eps)) with r = exp(log_ratio),
    over the rows where mask is 1: [M] -> []."""
    ratio = log_ratio.exp()
    return masked_mean(torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip, 1 + clip)), mask)


def value_loss(
    value: torch.Tensor, old_value: torch.Tensor, ret: torch.Tensor, mask: torch.Tensor, clip: float
) -> torch.Tensor:
    """0.5 * squared error to the returns; with clip > 0, the max of the plain and the clipped
    error (the value may move at most `clip` from its rollout-time estimate): [M] -> []."""
    err = (value - ret) ** 2
    if clip > 0:
        clipped = old_value + (value - old_value).clamp(-clip, clip)
        err = torch.max(err, (clipped - ret) ** 2)
    return 0.5 * masked_mean(err, mask)


class PPOAgent(Agent):
    """Proximal policy optimization on the shared rollout buffer.

    Args (plain, from configs/agent/ppo.yaml):
        input: "obs" (raw observations); "latent" is not available yet.
        units, layers, act, norm: actor and critic MLPs (separate nets). cnn_depth: pixel encoder
            (shared by actor and critic; no augmentation: it would break the importance ratio).
        rollout: env steps per env per rollout (T). epochs, minibatches: passes over the T*N
            transitions and the number of minibatches per pass.
        lr, adam_eps, max_grad_norm, anneal_lr_updates: optimizer; the learning rate decays
            linearly to 0 over `anneal_lr_updates` updates (0: constant).
        gamma, lam: GAE. clip: surrogate clip range. value_clip: value clip range (0: off).
        ent_coef, vf_coef: loss weights. norm_adv: normalize advantages per minibatch.
        obs_norm: running mean/std normalization of vector observations.
        init_log_std: initial log std of the Gaussian policy (continuous actions).
    """

    def __init__(
        self,
        obs_spec: ObsSpec,
        act_spec: ActSpec,
        device: str | torch.device = "cpu",
        input: str = "obs",
        units: int = 64,
        layers: int = 2,
        act: str = "tanh",
        norm: bool = False,
        cnn_depth: int = 32,
        rollout: int = 128,
        epochs: int = 4,
        minibatches: int = 4,
        lr: float = 3e-4,
        adam_eps: float = 1e-5,
        max_grad_norm: float = 0.5,
        anneal_lr_updates: int = 0,
        gamma: float = 0.99,
        lam: float = 0.95,
        clip: float = 0.2,
        value_clip: float = 0.0,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        norm_adv: bool = True,
        obs_norm: bool = False,
        init_log_std: float = 0.0,
    ):
        super().__init__(obs_spec, act_spec, device)
        check_input(input, "ppo")
        if rollout < 1 or epochs < 1 or minibatches < 1:
            raise ValueError(
                f"ppo: need rollout, epochs, minibatches >= 1, "
                f"got {rollout}, {epochs}, {minibatches}"
            )
        self.data = DataSpec(kind="rollouts", length=rollout, gamma=gamma)
        A = act_spec.dim
        self.encoder = ObsEncoder(obs_spec, cnn_depth=cnn_depth, aug_pad=0).to(self.device)
        F_ = self.encoder.out_dim
        self.obs_rms: RunningMeanStd | None = None
        if obs_norm and VECTOR_KEY in obs_spec:
            self.obs_rms = RunningMeanStd(obs_spec[VECTOR_KEY].shape[0]).to(self.device)
        self.actor: nn.Module
        if act_spec.discrete:
            self.actor = mlp(F_, A, units, layers, norm=norm, act=activation(act))
            orthogonal_init(self.actor, out_gain=0.01)
        else:
            self.actor = GaussianActor(F_, A, units, layers, norm, act, init_log_std)
        self.critic = mlp(F_, 1, units, layers, norm=norm, act=activation(act))
        orthogonal_init(self.critic, out_gain=1.0)
        self.actor.to(self.device)
        self.critic.to(self.device)
        self.params = [
            *self.encoder.parameters(),
            *self.actor.parameters(),
            *self.critic.parameters(),
        ]
        self.opt = adam(self.params, lr, adam_eps)
        self.lr, self.anneal_lr_updates = lr, anneal_lr_updates
        self.epochs, self.minibatches = epochs, minibatches
        self.max_grad_norm = max_grad_norm
        self.gamma, self.lam, self.clip, self.value_clip = gamma, lam, clip, value_clip
        self.ent_coef, self.vf_coef, self.norm_adv = ent_coef, vf_coef, norm_adv
        self.updates = 0  # host counter: drives the learning-rate schedule

    # ------------------------------------------------------------------ policy pieces
    def _features(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.obs_rms is not None:
            obs = {**obs, VECTOR_KEY: self.obs_rms(obs[VECTOR_KEY].float())}
        return self.encoder(obs)  # [B, F]

    def _log_prob_entropy(
        self, feat: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi(action) and the policy entropy at `feat`: [B], [B]."""
        if self.act_spec.discrete:
            logits = self.actor(feat)  # [B, A]
            return categorical_log_prob(logits, action), categorical_entropy(logits)
        mean, log_std = self.actor(feat)  # [B, A]
        return gaussian_log_prob(mean, log_std, action), gaussian_entropy(log_std)

    @torch.no_grad()
    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        check_mode(mode)
        feat = self._features(obs)
        if self.act_spec.discrete:
            logits = self.actor(feat)  # [B, A]
            if mode == "explore":  # Gumbel-max: a categorical sample without leaving the device
                logits = logits - torch.log(-torch.log(torch.rand_like(logits).clamp_min(1e-20)))
            idx = logits.argmax(-1)
            return torch.nn.functional.one_hot(idx, self.act_spec.dim).float(), state
        mean, log_std = self.actor(feat)
        if mode == "explore":
            mean = mean + log_std.exp() * torch.randn_like(mean)
        return mean.clamp(-1.0, 1.0), state

    # ------------------------------------------------------------------ learning
    def update(self, batch: Any) -> dict[str, torch.Tensor]:
        """PPO epochs on a full `RolloutBuffer` (rows [T+1, N])."""
        rows = batch.rows()
        T1, N = rows["reward"].shape
        T = T1 - 1
        obs_keys = list(self.obs_spec)
        if self.obs_rms is not None:  # count the T new rows (row 0 was the last rollout's row T)
            self.obs_rms.update(rows[VECTOR_KEY][1:].reshape(T * N, -1).float())
        if self.anneal_lr_updates > 0:
            frac = max(1.0 - self.updates / self.anneal_lr_updates, 0.0)
            for group in self.opt.param_groups:
                group["lr"] = self.lr * frac
        with torch.no_grad(), autocast(self.device):
            flat = {k: rows[k].reshape(T1 * N, *rows[k].shape[2:]) for k in obs_keys}
            feat = self._features(flat)  # [(T+1) N, F]
            value = self.critic(feat).float().reshape(T1, N)  # [T+1, N]
            action = rows["action"][:T].reshape(T * N, -1)  # [T N, A]
            old_logp, _ = self._log_prob_entropy(feat[: T * N], action)
        adv, ret, mask = batch.advantages(value, self.gamma, self.lam)  # [T, N] each
        data = {
            **{k: v[: T * N] for k, v in flat.items()},
            "action": action,
            "old_logp": old_logp.float(),
            "old_value": value[:T].reshape(-1),
            "adv": adv.reshape(-1),
            "ret": ret.reshape(-1),
            "mask": mask.reshape(-1),
        }
        M = T * N
        mb = M // self.minibatches
        if mb < 1:
            raise ValueError(
                f"ppo: {M} transitions per rollout cannot fill {self.minibatches} minibatches"
            )
        sums: dict[str, torch.Tensor] = {}
        for _ in range(self.epochs):
            perm = torch.randperm(M, device=self.device)
            for i in range(self.minibatches):
                idx = perm[i * mb : (i + 1) * mb]  # static size: the remainder rows skip this epoch
                metrics = self._minibatch({k: v[idx] for k, v in data.items()}, obs_keys)
                for k, v in metrics.items():
                    sums[k] = sums[k] + v if k in sums else v
        self.updates += 1
        count = float(self.epochs * self.minibatches)
        out = {k: v / count for k, v in sums.items()}
        out["agent/value_mean"] = masked_mean(data["old_value"], data["mask"])
        out["agent/return_mean"] = masked_mean(data["ret"], data["mask"])
        if isinstance(self.actor, GaussianActor):
            out["agent/log_std"] = self.actor.log_std.detach().mean()
        return out

    def _minibatch(
        self, mb: dict[str, torch.Tensor], obs_keys: list[str]
    ) -> dict[str, torch.Tensor]:
        mask = mb["mask"]  # [M]
        adv = mb["adv"]
        if self.norm_adv:
            mean = masked_mean(adv, mask)
            std = masked_mean((adv - mean) ** 2, mask).sqrt()
            adv = (adv - mean) / (std + 1e-8)
        with autocast(self.device):
            feat = self._features({k: mb[k] for k in obs_keys})
            logp, entropy = self._log_prob_entropy(feat, mb["action"])
            value = self.critic(feat).squeeze(-1).float()  # [M]
        log_ratio = logp.float() - mb["old_logp"]
        policy_loss = clipped_surrogate(log_ratio, adv, mask, self.clip)
        v_loss = value_loss(value, mb["old_value"], mb["ret"], mask, self.value_clip)
        entropy_mean = masked_mean(entropy.float(), mask)
        loss = policy_loss + self.vf_coef * v_loss - self.ent_coef * entropy_mean
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grads(self.params, self.max_grad_norm)
        self.opt.step()
        with torch.no_grad():
            ratio = log_ratio.exp()
            approx_kl = masked_mean((ratio - 1) - log_ratio, mask)  # the k3 estimator (Schulman)
            clip_frac = masked_mean(((ratio - 1).abs() > self.clip).float(), mask)
        return {
            "agent/policy_loss": policy_loss.detach(),
            "agent/value_loss": v_loss.detach(),
            "agent/entropy": entropy_mean.detach(),
            "agent/approx_kl": approx_kl,
            "agent/clip_frac": clip_frac,
            "agent/grad_norm": grad_norm,
        }

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "encoder": self.encoder.state_dict(),
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "optim": self.opt.state_dict(),
            "counters": {"updates": self.updates},
        }
        if self.obs_rms is not None:
            state["obs_rms"] = self.obs_rms.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.opt.load_state_dict(state["optim"])
        if self.obs_rms is not None:
            self.obs_rms.load_state_dict(state["obs_rms"])
        self.updates = int(state["counters"]["updates"])
