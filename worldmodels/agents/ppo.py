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

With `input=latent` the head reads features of a world model it owns (worldmodels/agents/latent.py):
each update first trains the world model on the rollout (its rows [T+1, N] are N sequences), then
runs PPO on the refiltered features (old log-probs and values are recomputed on them at the
start of the update, as for observations). With `imagination=true` the data becomes replayed
sequences: the world model trains on them and PPO learns purely from H-step rollouts imagined from
every posterior with the current policy (GAE on imagined rewards and continues, the same epochs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from worldmodels.agents.base import ActMode, Agent, DataSpec
from worldmodels.agents.latent import FEAT_KEY, LatentFeatures, LatentState, check_modes
from worldmodels.envs.spaces import VECTOR_KEY, ActSpec, ObsSpec
from worldmodels.models.actor_critic import (
    GaussianActor,
    ObsEncoder,
    RunningMeanStd,
    activation,
    check_mode,
    orthogonal_init,
)
from worldmodels.models.base import WorldModelBase
from worldmodels.models.dists import (
    categorical_entropy,
    categorical_log_prob,
    clipped_gaussian_log_prob,
    gaussian_entropy,
)
from worldmodels.models.nets import mlp
from worldmodels.models.optim import (
    adam,
    autocast,
    clip_grads,
)
from worldmodels.objectives.returns import gae


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
        input: "obs" (raw observations) or "latent" (world-model features, see module docstring).
        imagination: learn from imagined rollouts only (needs input=latent).
        world_model: the world model of input=latent: its config node (configs/world_model/,
            `_target_` + options) or a built one (models/base.py).
        latent: latent-mode settings, the `LatentConfig` fields (batch_size, batch_length,
            horizon, train, lr, eps, clip).
        world_model_path: RUN_DIR/world_model.pt of a run to start the world model from.
        units, layers, act, norm: actor and critic MLPs (separate nets). cnn_depth: pixel encoder
            (shared by actor and critic; no augmentation: it would break the importance ratio).
        rollout: env steps per env per rollout (T). epochs, minibatches: passes over the T*N
            transitions and the number of minibatches per pass.
        lr, adam_eps, max_grad_norm, anneal_lr_updates: optimizer; the learning rate decays
            linearly to 0 over `anneal_lr_updates` updates (0: constant).
        gamma, lam: GAE. clip: surrogate clip range. value_clip: value clip range (0: off).
        ent_coef, vf_coef: loss weights. norm_adv: normalize advantages per minibatch.
        obs_norm: running mean/std normalization of vector observations (input=obs only).
        init_log_std: initial log std of the Gaussian policy (continuous actions).
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
        check_modes(input, imagination, "ppo")
        if rollout < 1 or epochs < 1 or minibatches < 1:
            raise ValueError(
                f"ppo: need rollout, epochs, minibatches >= 1, "
                f"got {rollout}, {epochs}, {minibatches}"
            )
        self.data = DataSpec(kind="rollouts", length=rollout, gamma=gamma)
        A = act_spec.dim
        self.imagination = imagination
        self.latent: LatentFeatures | None = None
        self.encoder: nn.Module
        if input == "latent":
            self.latent = LatentFeatures(
                obs_spec, act_spec, self.device, world_model, latent, world_model_path, "ppo"
            )
            self.world_model = self.latent.wm
            self.encoder = nn.Identity()  # features come from the world model
            F_ = self.latent.feat_dim
            if imagination:
                lc = self.latent.cfg
                self.data = DataSpec("sequences", batch=lc.batch_size, length=lc.batch_length)
        else:
            self.encoder = ObsEncoder(obs_spec, cnn_depth=cnn_depth, aug_pad=0).to(self.device)
            F_ = self.encoder.out_dim
        self.obs_rms: RunningMeanStd | None = None
        if obs_norm and VECTOR_KEY in obs_spec and self.latent is None:
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
        if self.latent is not None:  # latent input: minibatches carry the features themselves
            return obs[FEAT_KEY]
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
        # actions are clipped to [-1, 1] at act time: their log-prob counts the clipped tails
        return clipped_gaussian_log_prob(mean, log_std, action), gaussian_entropy(log_std)

    def _policy(self, feat: torch.Tensor, explore: bool) -> torch.Tensor:
        """Actions [B, A] at features [B, F]: sampled (explore) or the mode."""
        if self.act_spec.discrete:
            logits = self.actor(feat)  # [B, A]
            if explore:  # Gumbel-max: a categorical sample without leaving the device
                logits = logits - torch.log(-torch.log(torch.rand_like(logits).clamp_min(1e-20)))
            return torch.nn.functional.one_hot(logits.argmax(-1), self.act_spec.dim).float()
        mean, log_std = self.actor(feat)
        if explore:
            mean = mean + log_std.exp() * torch.randn_like(mean)
        return mean.clamp(-1.0, 1.0)

    def init_state(self, batch_size: int) -> LatentState | None:
        """Latent input: (posterior [B], previous action [B, A]); otherwise None."""
        return self.latent.init_state(batch_size) if self.latent is not None else None

    @torch.no_grad()
    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        check_mode(mode)
        explore = mode == "explore"
        if self.latent is None:
            return self._policy(self._features(obs), explore), state
        # eval filters with posterior modes: deterministic
        feat, post = self.latent.observe(obs, state, sample=explore)
        action = self._policy(feat, explore)
        return action, (post, action)

    # ------------------------------------------------------------------ learning
    def update(self, batch: Any) -> dict[str, torch.Tensor]:
        """PPO epochs on a full `RolloutBuffer` (rows [T+1, N]); with imagination, on rollouts
        imagined from a sequences batch [B, T]."""
        if self.anneal_lr_updates > 0:
            frac = max(1.0 - self.updates / self.anneal_lr_updates, 0.0)
            for group in self.opt.param_groups:
                group["lr"] = self.lr * frac
        if self.imagination:
            data, extra = self._imagined_data(batch)
        else:
            data, extra = self._rollout_data(batch)
        M = data["adv"].shape[0]
        mb = M // self.minibatches
        if mb < 1:
            raise ValueError(
                f"ppo: {M} transitions per rollout cannot fill {self.minibatches} minibatches"
            )
        keys = [FEAT_KEY] if self.latent is not None else list(self.obs_spec)
        sums: dict[str, torch.Tensor] = {}
        for _ in range(self.epochs):
            perm = torch.randperm(M, device=self.device)
            for i in range(self.minibatches):
                idx = perm[i * mb : (i + 1) * mb]  # static size: the remainder rows skip this epoch
                metrics = self._minibatch({k: v[idx] for k, v in data.items()}, keys)
                for k, v in metrics.items():
                    sums[k] = sums[k] + v if k in sums else v
        self.updates += 1
        count = float(self.epochs * self.minibatches)
        out = {**extra, **{k: v / count for k, v in sums.items()}}
        out["agent/value_mean"] = masked_mean(data["old_value"], data["mask"])
        out["agent/return_mean"] = masked_mean(data["ret"], data["mask"])
        if isinstance(self.actor, GaussianActor):
            out["agent/log_std"] = self.actor.log_std.detach().mean()
        return out

    def _rollout_data(self, buffer: Any) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Flat [T N] minibatch sources from a full rollout buffer, plus world-model metrics."""
        rows = buffer.rows()
        T1, N = rows["reward"].shape
        T = T1 - 1
        extra: dict[str, torch.Tensor] = {}
        if self.latent is not None:
            # The rollout's rows are N sequences of T+1 rows: train on them, then refilter.
            seq = {k: v.transpose(0, 1).contiguous() for k, v in rows.items()}  # [N, T+1, ...]
            extra, post = self.latent.train_step(seq)
            feat_seq = self.latent.features(post).transpose(0, 1)  # [T+1, N, F]
            flat = {FEAT_KEY: feat_seq.reshape(T1 * N, -1)}
        else:
            if self.obs_rms is not None:  # count the T new rows (row 0 was last rollout's row T)
                self.obs_rms.update(rows[VECTOR_KEY][1:].reshape(T * N, -1).float())
            flat = {k: rows[k].reshape(T1 * N, *rows[k].shape[2:]) for k in self.obs_spec}
        with torch.no_grad(), autocast(self.device):
            feat = self._features(flat)  # [(T+1) N, F]
            value = self.critic(feat).float().reshape(T1, N)  # [T+1, N]
            action = rows["action"][:T].reshape(T * N, -1)  # [T N, A]
            old_logp, _ = self._log_prob_entropy(feat[: T * N], action)
        adv, ret, mask = buffer.advantages(value, self.gamma, self.lam)  # [T, N] each
        data = {
            **{k: v[: T * N] for k, v in flat.items()},
            "action": action,
            "old_logp": old_logp.float(),
            "old_value": value[:T].reshape(-1),
            "adv": adv.reshape(-1),
            "ret": ret.reshape(-1),
            "mask": mask.reshape(-1),
        }
        return data, extra

    def _imagined_data(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """World-model step on a sequences batch [B, T], then H-step rollouts from all B T
        posteriors with the current policy: flat [H N] minibatch sources, weighted by the
        probability that the imagined episode still runs."""
        assert self.latent is not None
        extra, post = self.latent.train_step(batch)
        roll, weight = self.latent.imagine(post, batch, lambda f: self._policy(f, True))
        H, N = roll.reward.shape
        feat = roll.feat[:-1].reshape(H * N, -1)  # [H N, F]
        action = roll.action.reshape(H * N, -1)  # [H N, A]
        with torch.no_grad(), autocast(self.device):
            value = self.critic(roll.feat).squeeze(-1).float()  # [H+1, N]
            old_logp, _ = self._log_prob_entropy(feat, action)
        adv = gae(roll.reward, value, roll.cont, self.gamma, self.lam)  # [H, N]
        extra["agent/imag_reward_mean"] = roll.reward.mean()
        extra["agent/imag_cont_mean"] = roll.cont.mean()
        data = {
            FEAT_KEY: feat,
            "action": action,
            "old_logp": old_logp.float(),
            "old_value": value[:-1].reshape(-1),
            "adv": adv.reshape(-1),
            "ret": (adv + value[:-1]).reshape(-1),
            "mask": weight.reshape(-1),
        }
        return data, extra

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
        if self.latent is not None:
            state.update(self.latent.state_dict_parts())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.opt.load_state_dict(state["optim"])
        if self.obs_rms is not None:
            self.obs_rms.load_state_dict(state["obs_rms"])
        if self.latent is not None:
            self.latent.load_state_dict_parts(state)
        self.updates = int(state["counters"]["updates"])
