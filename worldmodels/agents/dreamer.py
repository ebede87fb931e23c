"""Dreamer (V1/V2/V3): an RSSM world model learned from replayed sequences, and an actor-critic
learned on lambda-returns of trajectories imagined from every posterior state of the batch.

    agent = DreamerAgent(obs_spec, act_spec, device, **hyperparameters)

Hyperparameters are flat keyword arguments (configs/agent/dreamer.yaml holds the DreamerV3
defaults; configs/preset/ sets V1/V2; configs/ablation/ flips single switches): the world-model
ones are `WorldModel`'s constructor arguments (worldmodels/models/world_model.py), the rest are the
fields of `DreamerConfig` below. Unknown names fail with the list of valid ones.

One `update(batch)` (a [B, T] sequences batch, row convention of worldmodels.envs.spaces):
  1. world model: observe the batch, loss terms (reconstruction, reward, continue, KL), Adam step;
  2. imagine H steps from all B*T posteriors with the actor;
  3. lambda-returns (worldmodels.objectives.returns.lambda_return) bootstrapped by the critic
     (or by the slow critic with `slow_target`); the critic regresses them (plus a pull toward the
     slow critic's output, V3); the actor maximizes them by REINFORCE, dynamics backprop or a mix,
     with returns scaled by the 5-95 percentile range (V3) and an entropy bonus.
Everything stays on the device; metrics are 0-dim tensors; no host sync.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from worldmodels.agents.base import ActMode, Agent, DataSpec
from worldmodels.envs.spaces import ActSpec, ObsSpec
from worldmodels.models.dists import one_hot
from worldmodels.models.heads import DistHead, PolicyHead
from worldmodels.models.rssm import State
from worldmodels.models.world_model import Rollout, WorldModel, autocast, make_adam, plain_specs
from worldmodels.objectives.dreamer_losses import (
    ReturnNorm,
    actor_loss,
    critic_loss,
    imagination_weight,
    reinforce_weight,
)
from worldmodels.objectives.returns import lambda_return

#: World-model keyword arguments the agent forwards to `WorldModel`.
WM_KEYS = tuple(
    p
    for p in inspect.signature(WorldModel.__init__).parameters
    if p not in ("self", "obs_spec", "act_spec")
)
CRITIC_HEADS = ("twohot", "mse")


@dataclass
class DreamerConfig:
    """Behaviour-learning and optimization hyperparameters (DreamerV3 defaults)."""

    batch_size: int = 16  # B sequences per update
    batch_length: int = 64  # T rows per sequence
    horizon: int = 15  # H imagined steps
    gamma: float = 0.997  # 1 - 1/333
    lam: float = 0.95
    units: int = 512  # actor / critic MLP width (also the world model's)
    layers: int = 2
    actor_dist: str = "auto"  # auto | bounded_normal | tanh_normal | onehot
    actor_grad: str = "reinforce"  # dynamics | reinforce | mix | auto
    actor_grad_mix: float = 0.1  # REINFORCE weight when actor_grad=mix
    actor_entropy: float = 3e-4
    actor_unimix: float = 0.01
    critic_head: str = "twohot"  # twohot | mse
    slow_critic_decay: float = 0.98  # EMA decay of the slow critic (0 with every=100: hard copy)
    slow_critic_every: int = 1
    slow_target: bool = False  # bootstrap returns from the slow critic (V2) instead of the critic
    slow_reg: float = 1.0  # weight of the critic's pull toward the slow critic's output (V3)
    return_norm: bool = True
    return_norm_decay: float = 0.99
    return_norm_limit: float = 1.0
    model_lr: float = 1e-4
    model_eps: float = 1e-8
    model_clip: float = 1000.0
    actor_lr: float = 3e-5
    critic_lr: float = 3e-5
    ac_eps: float = 1e-5
    ac_clip: float = 100.0
    compile: bool = False  # torch.compile the RSSM cells and the heads


AGENT_KEYS = tuple(f.name for f in fields(DreamerConfig))


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Parameters of `modules` record no gradients inside the block (gradients still flow through
    them to their inputs): the actor's loss must not train the world model or the critic."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


class DreamerAgent(Agent):
    """Dreamer with its own world model; see the module docstring."""

    world_model: WorldModel

    def __init__(
        self,
        obs_spec: ObsSpec,
        act_spec: ActSpec,
        device: str | torch.device = "cpu",
        **hparams: Any,
    ):
        obs_spec, act_spec = plain_specs(obs_spec, act_spec)
        super().__init__(obs_spec, act_spec, device)
        unknown = sorted(set(hparams) - set(WM_KEYS) - set(AGENT_KEYS))
        if unknown:
            raise ValueError(
                f"DreamerAgent: unknown hyperparameters {unknown}; "
                f"valid: {sorted(set(WM_KEYS) | set(AGENT_KEYS))}"
            )
        self.cfg = cfg = DreamerConfig(**{k: v for k, v in hparams.items() if k in AGENT_KEYS})
        if cfg.critic_head not in CRITIC_HEADS:
            raise ValueError(
                f"unknown critic_head {cfg.critic_head!r}; valid: {', '.join(CRITIC_HEADS)}"
            )
        self.rho = reinforce_weight(cfg.actor_grad, cfg.actor_grad_mix, act_spec.discrete)
        wm_kwargs = {k: v for k, v in hparams.items() if k in WM_KEYS}
        wm_kwargs.update(units=cfg.units, layers=cfg.layers, compile=cfg.compile)
        if "loss_scales" in wm_kwargs:
            wm_kwargs["loss_scales"] = dict(wm_kwargs["loss_scales"])
        self.data = DataSpec("sequences", batch=cfg.batch_size, length=cfg.batch_length)

        self.world_model = WorldModel(obs_spec, act_spec, **wm_kwargs).to(self.device)
        feat = self.world_model.feat_dim
        self.actor = PolicyHead(
            feat, act_spec, cfg.units, cfg.layers, cfg.actor_dist, cfg.actor_unimix
        ).to(self.device)
        twohot = cfg.critic_head == "twohot"
        self.critic = DistHead(feat, cfg.critic_head, cfg.units, cfg.layers, zero_init=twohot).to(
            self.device
        )
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.return_norm = ReturnNorm(cfg.return_norm_decay, cfg.return_norm_limit).to(self.device)
        if cfg.compile:
            for head in (self.actor, self.critic, self.slow_critic):
                head.net.compile(dynamic=False)

        self.model_opt = self.world_model.make_optimizer(cfg.model_lr, cfg.model_eps)
        self.actor_opt = make_adam(self.actor.parameters(), cfg.actor_lr, cfg.ac_eps, self.device)
        self.critic_opt = make_adam(
            self.critic.parameters(), cfg.critic_lr, cfg.ac_eps, self.device
        )
        self._updates = 0

    # ---- acting ------------------------------------------------------------------------------
    @torch.no_grad()
    def init_state(self, batch_size: int) -> tuple[State, torch.Tensor]:
        """(RSSM state [B], previous action [B, A] = 0)."""
        latent = self.world_model.initial(batch_size)
        return latent, torch.zeros(batch_size, self.act_spec.dim, device=self.device)

    @torch.no_grad()
    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        """Filter o_t into s_t (state reset where is_first), then sample ("explore") or take the
        mode ("eval": posterior modes too, so deterministic) of pi(a_t | s_t).
        Returns float32 actions [B, A] and the next state (s_t, a_t)."""
        if mode not in ("explore", "eval"):
            raise ValueError(f"unknown act mode {mode!r}; valid: explore, eval")
        is_first = obs["is_first"]
        if state is None:
            state = self.init_state(is_first.shape[0])
        latent, prev_action = state
        explore = mode == "explore"
        with autocast(self.device):
            # eval filters with posterior modes and takes the policy's mode: fully deterministic
            latent, feat = self.world_model.observe(
                latent, obs, prev_action, is_first, sample=explore
            )
            dist = self.actor(feat)
            action = (dist.sample() if explore else dist.mode()).float()  # [B, A]
        if self.act_spec.discrete:  # exact one-hot (straight-through values carry rounding)
            action = one_hot(action.argmax(-1), self.act_spec.dim)
        else:
            action = action.clamp(-1.0, 1.0)
        return action, (latent, action)

    # ---- learning ----------------------------------------------------------------------------
    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """World-model step, then actor and critic steps in imagination. Returns 0-dim metrics."""
        metrics, post = self.world_model.train_step(batch, self.model_opt, self.cfg.model_clip)
        start = {k: v.reshape(-1, v.shape[-1]) for k, v in post.items()}  # [B*T, ...]
        start_cont = 1.0 - batch["is_terminal"].reshape(-1).float()  # [B*T]
        metrics.update(self._train_behavior(start, start_cont))
        self._updates += 1
        if self._updates % self.cfg.slow_critic_every == 0:
            self._update_slow_critic()
        return metrics

    def _imagine(self, start: State) -> Rollout:
        wm, h = self.world_model, self.cfg.horizon
        if self.rho == 1.0:  # pure REINFORCE: no gradient needs to cross the imagined dynamics
            with torch.no_grad():
                return wm.imagine(start, lambda f: self.actor(f).sample(), h)
        with frozen(wm):
            return wm.imagine(start, lambda f: self.actor(f).rsample(), h)

    def _train_behavior(self, start: State, start_cont: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        with autocast(self.device):
            roll = self._imagine(start)  # feat [H+1, N, F], reward/cont [H, N]
            feat = roll.feat.detach()
            critic = self.critic(feat)  # over all H+1 states; the loss uses the first H
            value = critic.mean.detach()  # [H+1, N]
            with torch.no_grad():
                slow_value = self.slow_critic(feat).mean  # [H+1, N]
            boot = slow_value if cfg.slow_target else value
            if self.rho < 1.0:  # dynamics backprop: values must pass gradients to the features
                with frozen(self.critic):
                    boot = (self.slow_critic if cfg.slow_target else self.critic)(roll.feat).mean
            ret = lambda_return(
                roll.reward.float(), boot.float(), roll.cont.float(), cfg.gamma, cfg.lam
            )  # [H, N]
            weight = imagination_weight(start_cont, roll.cont.float())  # [H, N]
            scale = (
                self.return_norm.update(ret)
                if cfg.return_norm
                else torch.ones((), device=self.device)
            )
            policy = self.actor(feat[:-1])
            log_prob = policy.log_prob(roll.action.detach())  # [H, N]
            entropy = policy.entropy()  # [H, N]
            a_loss = actor_loss(
                ret, value[:-1], log_prob, entropy, weight, scale, self.rho, cfg.actor_entropy
            )
            pad = ret.detach()[
                -1:
            ]  # the last state's critic output has no target: masked out below
            c_lp = critic.log_prob(torch.cat([ret.detach(), pad]))[:-1]
            s_lp = critic.log_prob(slow_value)[:-1] if cfg.slow_reg > 0 else None
            c_loss = critic_loss(c_lp, s_lp, weight, cfg.slow_reg)
        self.actor_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        (a_loss + c_loss).backward()
        a_norm = nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.ac_clip)
        c_norm = nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.ac_clip)
        self.actor_opt.step()
        self.critic_opt.step()
        return {
            "agent/actor_loss": a_loss.detach(),
            "agent/critic_loss": c_loss.detach(),
            "agent/return_scale": scale.detach(),
            "agent/entropy": entropy.detach().mean(),
            "agent/return_mean": ret.detach().mean(),
            "agent/value_mean": value.mean(),
            "agent/imag_reward_mean": roll.reward.detach().float().mean(),
            "agent/imag_cont_mean": roll.cont.detach().float().mean(),
            "agent/actor_grad_norm": a_norm.detach(),
            "agent/critic_grad_norm": c_norm.detach(),
        }

    @torch.no_grad()
    def _update_slow_critic(self) -> None:
        mix = 1.0 - self.cfg.slow_critic_decay
        for slow, fast in zip(self.slow_critic.parameters(), self.critic.parameters()):
            slow.lerp_(fast, mix)

    # ---- diagnostics and persistence --------------------------------------------------------
    def video_prediction(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """uint8 [T, H, 3W, C] (truth | model | error; 5 context frames, then open loop), or None
        when the model has no image decoder."""
        if not self.world_model.can_predict_video:
            return None
        return self.world_model.video_prediction(
            batch, context=min(5, batch["is_first"].shape[1] - 1)
        )

    def world_model_config(self) -> dict[str, Any]:
        """Constructor arguments of the world model (WorldModel.from_config rebuilds it)."""
        return self.world_model.world_model_config()

    def hyperparameters(self) -> dict[str, Any]:
        """The behaviour config as a plain dict."""
        return asdict(self.cfg)

    def state_dict(self) -> dict[str, Any]:
        return {
            "world_model": self.world_model.state_dict(),
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "slow_critic": self.slow_critic.state_dict(),
            "return_norm": self.return_norm.state_dict(),
            "model_opt": self.model_opt.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "counters": {"updates": self._updates},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.world_model.load_state_dict(state["world_model"])
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.slow_critic.load_state_dict(state["slow_critic"])
        self.return_norm.load_state_dict(state["return_norm"])
        self.model_opt.load_state_dict(state["model_opt"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self._updates = int(state["counters"]["updates"])
