"""Dreamer (V1/V2/V3): an RSSM world model learned from replayed sequences, and an actor-critic
learned on lambda-returns of trajectories imagined from every posterior state of the batch.

    agent = DreamerAgent(obs_spec, act_spec, device, world_model=wm_or_config, **hyperparameters)

`world_model` is a built world model (models/base.py's interface) or its config node
(configs/world_model/, `_target_` + options, built by models/build.py); the hyperparameters are
the fields of `DreamerConfig` below (configs/agent/dreamer.yaml holds the DreamerV3 defaults;
configs/preset/ sets V1/V2; configs/ablation/ flips single world-model switches). Unknown names
fail with the list of valid ones.

One `update(batch)` (a [B, T] sequences batch, row convention of worldmodels.envs.spaces):
  1. world model: observe the batch, loss terms (reconstruction, reward, continue, KL);
  2. imagine H steps from all B*T posteriors with the actor (its input detached, as every
     release does);
  3. lambda-returns (worldmodels.objectives.returns.lambda_return) bootstrapped by the critic
     (or by the slow critic with `slow_target`); the critic regresses them (plus a pull toward the
     slow critic's output, V3); the actor maximizes them by REINFORCE, dynamics backprop or a mix,
     with returns scaled by the 5-95 percentile range (V3) and an entropy bonus.
Two ways to step the optimizers:
  - `optimizer="adam"` (V1, V2, the 2023 V3 release): Adam for the world model, then imagination
    with the updated model, then Adam steps for actor and critic, each with global-norm clipping.
  - `optimizer="laprop"` (the current V3 release, dreamerv3/agent.py `train`/`loss`): one loss,
    sum of the world-model terms, the policy and value losses and the replay value loss (`repval`,
    a value loss on the replayed posteriors toward `replay_lambda_return`, which trains the world
    model too), scaled by `ac_loss_scales`; one LaProp step (models/laprop.py) over all parameters.
`replay_context=K` (the current release: 1): a sequence of K + T rows starts from the latent the
policy had at row K-1, stored in the replay with the row (`data.extras`), not from the initial
state; the posteriors the update computes are written back for the T rows (`replay_writeback`).
Everything stays on the device; metrics are 0-dim tensors; no host sync.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch

from worldmodels.agents.base import ActMode, Agent, DataSpec, PlanningPrior
from worldmodels.agents.graphed_update import GraphedStep
from worldmodels.envs.spaces import ActSpec, ArraySpec, ObsSpec
from worldmodels.models.base import Rollout, State, WorldModelBase, plain_specs
from worldmodels.models.build import own_world_model
from worldmodels.models.dists import one_hot
from worldmodels.models.heads import DistHead, PolicyHead
from worldmodels.models.init import initialize
from worldmodels.models.laprop import LaProp
from worldmodels.models.optim import adam, autocast, clip_grads, frozen
from worldmodels.models.options import dataclass_options
from worldmodels.objectives.dreamer_losses import (
    AC_LOSS_TERMS,
    ReturnNorm,
    actor_loss,
    critic_loss,
    imagination_weight,
    reinforce_weight,
)
from worldmodels.objectives.returns import lambda_return, replay_lambda_return

CRITIC_HEADS = ("twohot", "mse")
OPTIMIZERS = ("adam", "laprop")
IMAG_CONTS = ("prob", "mode")
WRITEBACK = "writeback/"  # prefix of the posteriors `_step` returns for the replay


@dataclass
class DreamerConfig:
    """Behaviour-learning and optimization hyperparameters (DreamerV3 defaults)."""

    batch_size: int = 16  # B sequences per update
    batch_length: int = 64  # T rows per sequence
    horizon: int = 15  # H imagined steps
    gamma: float = 1 - 1 / 333  # horizon 333
    lam: float = 0.95
    units: int = 512  # actor / critic MLP width
    layers: int = 2
    norm: str = "layer"  # actor / critic norm, activation, init (the yaml: the world model's)
    act: str = "silu"
    winit: str = "torch"
    bins: int = 255  # the two-hot critic's bins and their spacing
    bins_space: str = "symlog"
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
    compile: bool = False  # torch.compile the actor and critic heads
    # capture the whole update as one CUDA graph and replay it (CUDA only; fixed batch shape):
    # the update is launch-bound on a GPU (agents/graphed_update.py)
    cuda_graph: bool = False
    # ---- release switches (defaults: the 2023 release; configs/preset/ sets each release)
    actor_layers: int | None = None  # None: `layers` (current release: 3)
    critic_layers: int | None = None  # None: `layers` (current release: 3)
    actor_outscale: float = 1.0  # initial scale of the policy's output layer (current: 0.01)
    # the current release's continue convention: the discount 1 - 1/horizon folded into the
    # continue target (so imagination discounts by the predicted continue alone) and the first
    # imagined weight from the predicted continue of the start state
    contdisc: bool = False
    imag_cont: str = "prob"  # prob | mode (2023: the continue head's 0/1 mode in imagination)
    dynamics_baseline: bool = (
        False  # dynamics backprop maximizes (R - V) / S, V with gradient (2023)
    )
    optimizer: str = "adam"  # adam (separate, V1/V2/2023) | laprop (one over all, current)
    laprop_lr: float = 4e-5  # laprop
    laprop_eps: float = 1e-20  # laprop
    agc: float = 0.3  # laprop: adaptive gradient clipping
    warmup: int = 1000  # laprop: linear learning-rate warmup, updates
    ac_loss_scales: dict[str, float] | None = None  # policy, value, repval (None: 1, 1, 0.3)
    repval_loss: bool = False  # laprop only: value loss on replayed posteriors (current: true)
    replay_context: int = 0  # rows of stored policy latent before each sequence (current: 1)
    prefill_policy: bool = False  # act with the policy while the replay prefills (current: true)
    # exploration on top of the policy's sample (V1: 0.3): additive N(0, noise) clipped to
    # [-1, 1] for continuous actions, epsilon-greedy with epsilon = noise for discrete ones
    explore_noise: float = 0.0
    # decoupled weight decay of the Adam optimizers, params *= 1 - weight_decay before each step
    # (V2: 1e-6, dreamerv2/common/tfutils.py `_apply_weight_decay`)
    weight_decay: float = 0.0


class DreamerAgent(Agent):
    """Dreamer with its own world model; see the module docstring."""

    world_model: WorldModelBase

    def __init__(
        self,
        obs_spec: ObsSpec,
        act_spec: ActSpec,
        device: str | torch.device = "cpu",
        world_model: WorldModelBase | Mapping[str, Any] | None = None,
        **hparams: Any,
    ):
        obs_spec, act_spec = plain_specs(obs_spec, act_spec)
        super().__init__(obs_spec, act_spec, device)
        self.cfg = cfg = dataclass_options(DreamerConfig, "DreamerAgent", hparams, "agent.")
        self._check_config(cfg)
        self.rho = reinforce_weight(cfg.actor_grad, cfg.actor_grad_mix, act_spec.discrete)
        scales = dict(cfg.ac_loss_scales or {"policy": 1.0, "value": 1.0, "repval": 0.3})
        if set(scales) != set(AC_LOSS_TERMS):
            raise ValueError(
                f"ac_loss_scales keys {sorted(scales)} must be exactly {sorted(AC_LOSS_TERMS)}"
            )
        self.ac_scales = {k: float(v) for k, v in scales.items()}
        wm = own_world_model(world_model, obs_spec, act_spec, self.device, "DreamerAgent")
        self.world_model = wm
        feat = wm.feat_dim
        self.contdisc = self._check_contdisc(cfg, wm)
        # Replay context: the policy's posterior is stored with each row it acted on.
        extras: dict[str, ArraySpec] = {}
        if cfg.replay_context:
            extras = wm.context_spec()
            if not extras:
                raise ValueError(
                    f"replay_context={cfg.replay_context} needs a world model that restarts from "
                    f"stored state; {type(wm).__name__} has no context_spec"
                )
        self._context_keys = tuple(extras)
        self.data = DataSpec(
            "sequences",
            batch=cfg.batch_size,
            length=cfg.batch_length + cfg.replay_context,
            context=cfg.replay_context,
            extras=extras,
            prefill_policy=cfg.prefill_policy,
        )
        head_kw: dict[str, Any] = dict(norm=cfg.norm, act=cfg.act)
        a_layers = cfg.layers if cfg.actor_layers is None else cfg.actor_layers
        c_layers = cfg.layers if cfg.critic_layers is None else cfg.critic_layers
        self.actor = PolicyHead(
            feat,
            act_spec,
            cfg.units,
            a_layers,
            cfg.actor_dist,
            cfg.actor_unimix,
            outscale=cfg.actor_outscale,
            **head_kw,
        )
        twohot = cfg.critic_head == "twohot"
        self.critic = DistHead(
            feat,
            cfg.critic_head,
            cfg.units,
            c_layers,
            cfg.bins,
            zero_init=twohot,
            bins_space=cfg.bins_space,
            **head_kw,
        )
        initialize(self.actor, cfg.winit).to(self.device)
        initialize(self.critic, cfg.winit).to(self.device)
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.return_norm = ReturnNorm(cfg.return_norm_decay, cfg.return_norm_limit).to(self.device)
        if cfg.compile:
            for head in (self.actor, self.critic, self.slow_critic):
                head.net.compile(dynamic=False)

        self.opt: LaProp | None = None
        if cfg.optimizer == "laprop":
            # dreamerv3/agent.py:74-78: one optimizer over dyn, enc, dec, rew, con, pol, val
            params = [*wm.parameters(), *self.actor.parameters(), *self.critic.parameters()]
            self.opt = LaProp(
                [p for p in params if p.requires_grad],
                lr=cfg.laprop_lr,
                eps=cfg.laprop_eps,
                agc=cfg.agc,
                warmup=cfg.warmup,
            )
        else:
            wd = cfg.weight_decay  # V2's decoupled decay
            self.model_opt = adam(wm.parameters(), cfg.model_lr, cfg.model_eps, wd)
            self.actor_opt = adam(self.actor.parameters(), cfg.actor_lr, cfg.ac_eps, wd)
            self.critic_opt = adam(self.critic.parameters(), cfg.critic_lr, cfg.ac_eps, wd)
        self._writeback: dict[str, torch.Tensor] | None = None
        self._updates = 0
        self._graphed: GraphedStep | None = None
        if cfg.cuda_graph:
            wm_compiles = isinstance(world_model, Mapping) and bool(world_model.get("compile"))
            if cfg.compile or wm_compiles:
                raise ValueError(
                    "agent.cuda_graph=true with agent.compile or agent.world_model.compile true: "
                    "capturing torch.compile'd cells failed on the GPU (benchmarks/RESULTS.md); "
                    "valid: cuda_graph with both compile flags false (the graph removes the "
                    "launches compile would fuse)"
                )
            hooks = [self.opt.advance_host_step] if self.opt is not None else []
            self._graphed = GraphedStep(
                self._step, self._optimizers().values(), self.device, after_replay=hooks
            )

    @staticmethod
    def _check_contdisc(cfg: DreamerConfig, wm: WorldModelBase) -> bool:
        """Whether the world model's continues carry the discount (the current release's
        contdisc): then imagination discounts by them alone. Without a continue head gamma
        discounts, whatever contdisc says."""
        if not (cfg.contdisc and wm.predicts_continue):
            return False
        if abs(wm.cont_discount - cfg.gamma) > 1e-9:
            raise ValueError(
                f"contdisc=true folds the discount into the continue target: the world model's "
                f"cont_discount ({wm.cont_discount}) must equal gamma ({cfg.gamma}); set "
                "agent.world_model.cont_discount=${agent.gamma} (preset=dreamer_v3 does)"
            )
        return True

    @staticmethod
    def _check_config(cfg: DreamerConfig) -> None:
        if cfg.critic_head not in CRITIC_HEADS:
            raise ValueError(
                f"unknown critic_head {cfg.critic_head!r}; valid: {', '.join(CRITIC_HEADS)}"
            )
        if cfg.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {cfg.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if cfg.imag_cont not in IMAG_CONTS:
            raise ValueError(f"unknown imag_cont {cfg.imag_cont!r}; valid: {', '.join(IMAG_CONTS)}")
        if cfg.repval_loss and cfg.optimizer != "laprop":
            raise ValueError(
                "repval_loss=true trains the world model and the critic in one loss: it needs "
                "optimizer=laprop (the current release's single optimizer)"
            )
        if not 0.0 <= cfg.explore_noise <= 1.0:
            raise ValueError(f"explore_noise must be in [0, 1], got {cfg.explore_noise}")
        if not 0.0 <= cfg.weight_decay < 1.0:
            raise ValueError(f"weight_decay must be in [0, 1), got {cfg.weight_decay}")
        if cfg.replay_context < 0:
            raise ValueError(f"replay_context must be >= 0, got {cfg.replay_context}")
        if not 0.0 < cfg.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {cfg.gamma}")

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
        noise = self.cfg.explore_noise if explore else 0.0
        if self.act_spec.discrete:  # exact one-hot (straight-through values carry rounding)
            index = action.argmax(-1)
            if noise:  # dreamer.py `_exploration`, epsilon_greedy
                random = torch.randint_like(index, self.act_spec.dim)
                index = torch.where(
                    torch.rand_like(index, dtype=torch.float) < noise, random, index
                )
            action = one_hot(index, self.act_spec.dim)
        else:
            if noise:  # dreamer.py `_exploration`, additive_gaussian (lines 246-259)
                action = action + noise * torch.randn_like(action)
            action = action.clamp(-1.0, 1.0)
        return action, (latent, action)

    # ---- replay context ----------------------------------------------------------------------
    def row_extras(self, state: Any) -> dict[str, torch.Tensor]:
        """The policy's posterior (h_t, z_t) for the rows it just acted on, [B, D] and [B, Z]
        (replay context; empty without it)."""
        latent = state[0]
        return {k: latent[k].float() for k in self._context_keys}

    def replay_writeback(self) -> dict[str, torch.Tensor] | None:
        """The posteriors [B, T, ...] the last update computed for the rows it trained on (rows
        K.. of the batch), to refresh the replay's stored latents; None without replay context."""
        out, self._writeback = self._writeback, None
        return out

    def _split_context(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], State | None, torch.Tensor | None]:
        """Rows K.. as the training batch, the stored latent of row K-1 as its start state and the
        previous actions (row K-1's action first; zero where a row starts an episode)."""
        k = self.cfg.replay_context
        if not k:
            return batch, None, None
        data = {n: v[:, k:] for n, v in batch.items() if n not in self._context_keys}
        start = {n: batch[n][:, k - 1] for n in self._context_keys}
        keep = (~data["is_first"]).float().unsqueeze(-1)  # [B, T, 1]
        prev = batch["action"][:, k - 1 : -1] * keep
        return data, start, prev

    # ---- learning ----------------------------------------------------------------------------
    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """World-model step, then actor and critic steps in imagination (or one joint step with
        `optimizer="laprop"`). Returns 0-dim metrics. With `cuda_graph` the step is one replayed
        CUDA graph (agents/graphed_update.py); the counter and the slow critic's schedule stay
        here, outside it, because a graph replays the Python branches of its capture."""
        out = self._step(batch) if self._graphed is None else self._graphed(batch)
        writeback = {k[len(WRITEBACK) :]: out.pop(k) for k in list(out) if k.startswith(WRITEBACK)}
        if writeback:
            self._writeback = writeback
        self._updates += 1
        if self._updates % self.cfg.slow_critic_every == 0:
            self._update_slow_critic()
        return out

    def _step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One update's tensor work (what `cuda_graph` captures): metrics, plus the posteriors to
        write back to the replay under `writeback/<key>`."""
        data, start, prev = self._split_context(batch)
        if self.opt is not None:
            metrics, post = self._update_joint(data, start, prev)
        else:
            metrics, post = self.world_model.train_step(
                data, self.model_opt, self.cfg.model_clip, start, prev
            )
            flat = {k: v.reshape(-1, v.shape[-1]) for k, v in post.items()}  # [B*T, ...]
            start_cont = 1.0 - data["is_terminal"].reshape(-1).float()  # [B*T]
            metrics.update(self._train_behavior(flat, start_cont))
        for k in self._context_keys:
            metrics[WRITEBACK + k] = post[k].detach().float()
        return metrics

    def _policy(self, feat: torch.Tensor) -> torch.Tensor:
        # every release feeds the actor detached features in imagination
        dist = self.actor(feat.detach())
        return dist.sample() if self.rho == 1.0 else dist.rsample()

    def _imagine(self, start: State) -> Rollout:
        wm, h = self.world_model, self.cfg.horizon
        if self.rho == 1.0:  # pure REINFORCE: no gradient needs to cross the imagined dynamics
            with torch.no_grad():
                return wm.imagine(start, self._policy, h)
        with frozen(wm):
            return wm.imagine(start, self._policy, h)

    def _discounts(self, roll: Rollout, start_cont: torch.Tensor | None) -> tuple[Any, ...]:
        """(imagined continues [H, N], the return's gamma, the weights [H, N]). The weights
        include the discount: w_0 = start continue, w_t = w_{t-1} * gamma * cont_t (all releases:
        cumprod(discount * cont)); with contdisc gamma is 1 and the continues carry it."""
        cont = roll.cont.float()
        if self.cfg.imag_cont == "mode":  # no continue head: all ones, their own mode
            cont = (cont > 0.5).float()  # the Bernoulli's mode (2023: heads['cont'](traj).mode())
        gamma = 1.0 if self.contdisc else self.cfg.gamma
        if start_cont is None:  # contdisc: the continue head's prediction at the start state
            with torch.no_grad():
                prob = self.world_model.continue_prob(roll.feat[0].detach())
                assert prob is not None  # contdisc is only on with a continue head
                start_cont = prob.float()
        return cont, gamma, imagination_weight(start_cont, gamma * cont)

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
            cont, gamma, weight = self._discounts(roll, None if self.contdisc else start_cont)
            ret = lambda_return(roll.reward.float(), boot.float(), cont, gamma, cfg.lam)  # [H, N]
            scale = (
                self.return_norm.update(ret)
                if cfg.return_norm
                else torch.ones((), device=self.device)
            )
            # REINFORCE baseline: the critic, or the slow critic with slow_target (V2's
            # slow_baseline); the 2023 dynamics objective subtracts the critic with gradients
            base = slow_value[:-1] if cfg.slow_target else value[:-1]
            if cfg.dynamics_baseline and self.rho < 1.0:
                base = boot[:-1].float()
            policy = self.actor(feat[:-1])
            log_prob = policy.log_prob(roll.action.detach())  # [H, N]
            entropy = policy.entropy()  # [H, N]
            a_loss = actor_loss(
                ret,
                base,
                log_prob,
                entropy,
                weight,
                scale,
                self.rho,
                cfg.actor_entropy,
                cfg.dynamics_baseline,
            )
            pad = ret.detach()[-1:]  # the last state's critic output has no target: masked out
            c_lp = critic.log_prob(torch.cat([ret.detach(), pad]))[:-1]
            s_lp = critic.log_prob(slow_value)[:-1] if cfg.slow_reg > 0 else None
            c_loss = critic_loss(c_lp, s_lp, weight, cfg.slow_reg)
            a_loss = self.ac_scales["policy"] * a_loss
            c_loss = self.ac_scales["value"] * c_loss
        self.actor_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        (a_loss + c_loss).backward()
        a_norm = clip_grads(self.actor.parameters(), cfg.ac_clip)
        c_norm = clip_grads(self.critic.parameters(), cfg.ac_clip)
        self.actor_opt.step()
        self.critic_opt.step()
        metrics = self._behavior_metrics(a_loss, c_loss, scale, entropy, ret, value, roll, policy)
        metrics["agent/actor_grad_norm"] = a_norm.detach()
        metrics["agent/critic_grad_norm"] = c_norm.detach()
        return metrics

    def _update_joint(
        self, data: dict[str, torch.Tensor], start: State | None, prev: torch.Tensor | None
    ) -> tuple[dict[str, torch.Tensor], State]:
        """The current release's step (dreamerv3/agent.py `loss`, lines 156-245): one loss over
        world model, policy, value and replay value; one LaProp step over all parameters."""
        cfg, wm = self.cfg, self.world_model
        assert self.opt is not None
        b, t = data["is_first"].shape
        with autocast(self.device):
            objective = wm.objective(data, start, prev)
            wm_loss, post = objective.loss, objective.post
            rep_feat = wm.feat(post)  # [B, T, F], with gradients (repval trains the model)
            flat = {k: v.detach().reshape(b * t, v.shape[-1]) for k, v in post.items()}
            with torch.no_grad():
                roll = wm.imagine(flat, self._policy, cfg.horizon)
            feat = roll.feat  # [H+1, N, F], no gradient to the model (ac_grads: False)
            critic = self.critic(feat)
            value = critic.mean.detach()  # [H+1, N]
            with torch.no_grad():
                slow_value = self.slow_critic(feat).mean
            tar = slow_value if cfg.slow_target else value
            start_cont = None if self.contdisc else 1.0 - data["is_terminal"].reshape(-1).float()
            cont, gamma, weight = self._discounts(roll, start_cont)
            ret = lambda_return(roll.reward.float(), tar.float(), cont, gamma, cfg.lam)  # [H, N]
            scale = (
                self.return_norm.update(ret)
                if cfg.return_norm
                else torch.ones((), device=self.device)
            )
            policy = self.actor(feat[:-1])
            log_prob = policy.log_prob(roll.action)  # [H, N]
            entropy = policy.entropy()
            a_loss = actor_loss(
                ret, tar[:-1], log_prob, entropy, weight, scale, 1.0, cfg.actor_entropy
            )
            c_lp = critic.log_prob(torch.cat([ret, ret[-1:]]))[:-1]
            s_lp = critic.log_prob(slow_value)[:-1] if cfg.slow_reg > 0 else None
            c_loss = critic_loss(c_lp, s_lp, weight, cfg.slow_reg)
            total = wm_loss + self.ac_scales["policy"] * a_loss + self.ac_scales["value"] * c_loss
            metrics: dict[str, torch.Tensor] = {}
            if cfg.repval_loss:
                r_loss = self._repval_loss(data, rep_feat, ret[0].reshape(b, t))
                total = total + self.ac_scales["repval"] * r_loss
                metrics["agent/repval_loss"] = r_loss.detach()
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        metrics.update(wm.metrics(objective))
        with torch.no_grad():
            metrics["agent/lr"] = self.opt.lr_tensor(self.device)
        metrics.update(
            self._behavior_metrics(a_loss, c_loss, scale, entropy, ret, value, roll, policy)
        )
        return metrics, post

    def _repval_loss(
        self, data: dict[str, torch.Tensor], rep_feat: torch.Tensor, boot: torch.Tensor
    ) -> torch.Tensor:
        """Value loss on the replayed posteriors [B, T] toward `replay_lambda_return`
        (dreamerv3/agent.py `repl_loss`, lines 449-479; its discount is 1 - 1/horizon)."""
        cfg = self.cfg
        critic = self.critic(rep_feat)  # gradients reach the world model (repval_grad: True)
        with torch.no_grad():
            slow = self.slow_critic(rep_feat.detach()).mean  # [B, T]
        ret = replay_lambda_return(
            data["reward"].float(),
            data["is_last"],
            data["is_terminal"],
            boot.detach().float(),
            cfg.gamma,
            cfg.lam,
        )  # [B, T-1]
        weight = (~data["is_last"]).float()[:, :-1]
        loss = -critic.log_prob(torch.cat([ret, ret[:, -1:]], 1))[:, :-1]
        if cfg.slow_reg > 0:
            loss = loss - cfg.slow_reg * critic.log_prob(slow)[:, :-1]
        return (weight * loss).mean()

    def _behavior_metrics(
        self,
        a_loss: torch.Tensor,
        c_loss: torch.Tensor,
        scale: torch.Tensor,
        entropy: torch.Tensor,
        ret: torch.Tensor,
        value: torch.Tensor,
        roll: Rollout,
        policy: Any,
    ) -> dict[str, torch.Tensor]:
        metrics = {
            "agent/actor_loss": a_loss.detach(),
            "agent/critic_loss": c_loss.detach(),
            "agent/return_scale": scale.detach(),
            "agent/entropy": entropy.detach().mean(),
            "agent/return_mean": ret.detach().mean(),
            "agent/value_mean": value.mean(),
            "agent/imag_reward_mean": roll.reward.detach().float().mean(),
            "agent/imag_cont_mean": roll.cont.detach().float().mean(),
        }
        if not self.act_spec.discrete:
            # where the imagined policy's mode sits and how wide it samples: a drift of the mode
            # to one bound (a constant push) shows here long before it shows in the returns
            mode = policy.mode().detach()  # [H, N, A]
            metrics["agent/policy_mode_mean"] = mode.mean()
            metrics["agent/policy_mode_abs"] = mode.abs().mean()
            if hasattr(policy, "std"):
                metrics["agent/policy_std"] = policy.std.detach().mean()
        return metrics

    @torch.no_grad()
    def _update_slow_critic(self) -> None:
        mix = 1.0 - self.cfg.slow_critic_decay
        for slow, fast in zip(self.slow_critic.parameters(), self.critic.parameters()):
            slow.lerp_(fast, mix)

    # ---- persistence -----------------------------------------------------------------------
    def planning_prior(self) -> PlanningPrior:
        """The actor's samples as proposals and the critic's mean as terminal value."""
        return PlanningPrior(
            actor=lambda feat: self.actor(feat).sample(),  # [N, A]
            value=lambda feat: self.critic(feat).mean,  # [N]
        )

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
            **self._optimizer_states(),
            "counters": {"updates": self._updates},
        }

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        if self.opt is not None:
            return {"opt": self.opt}
        return {
            "model_opt": self.model_opt,
            "actor_opt": self.actor_opt,
            "critic_opt": self.critic_opt,
        }

    def _optimizer_states(self) -> dict[str, Any]:
        return {k: v.state_dict() for k, v in self._optimizers().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.world_model.load_state_dict(state["world_model"])
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.slow_critic.load_state_dict(state["slow_critic"])
        self.return_norm.load_state_dict(state["return_norm"])
        for name, opt in self._optimizers().items():
            opt.load_state_dict(state[name])
            for group in opt.param_groups:  # the saved flag is the saving run's cuda_graph
                group["capturable"] = self._graphed is not None
        self._updates = int(state["counters"]["updates"])
