"""The RSSM world model: encoder + RSSM + heads (decoder, reward, continue) and its losses; one
implementation of the world-model interface (models/base.py, which Dreamer, the planners and the
latent heads use; built from configs/world_model/rssm.yaml by models/build.py).

    wm = WorldModel(obs_spec, act_spec, **config)     # config: see WorldModel.__init__
    state = wm.initial(B)                             # State dict [B] (see models/rssm.py)
    state, feat = wm.observe(state, obs, prev_action, is_first, sample=True)
        # one step:  obs {key: [B, ...]}, prev_action [B, A], is_first [B] -> state [B], feat [B, F]
        # sequence:  obs {key: [B, T, ...]}, prev_action [B, T, A], is_first [B, T]
        #            -> posteriors [B, T] (state dict), feat [B, T, F]
        # sample=False: posterior modes instead of samples (deterministic filtering)
    roll = wm.imagine(start, policy_or_actions, H)
        # start: State with any leading dims (flattened to N); policy: feat [N, F] -> action [N, A],
        # or actions [H, N, A]. -> Rollout(feat [H+1, N, F], action [H, N, A], reward [H, N],
        #    cont [H, N], state [H+1, N]); reward_t / cont_t are predicted at state t+1.
    terms, post = wm.loss(batch)    # dict of unweighted [B, T] terms, posteriors [B, T]
    wm.feat_dim                     # F
    wm.config()                     # plain options; models/build.py saves and rebuilds it

`prev_action` follows the row convention (action_t is taken at obs_t): the RSSM step for o_t uses
action_{t-1}, zero at t=0 and at episode starts (`shift_actions`).

Loss terms (all [B, T], scaled by `loss_scales`, whose keys must be exactly LOSS_TERMS):
    image, vector   reconstruction (-log p = sum of squared errors; vectors in symlog space)
    reward          -log p(r_t | s_t)
    cont            -log p(1 - is_terminal_t | s_t)
    dyn             max(free_nats, KL(sg(q) || p))   trains the prior   (KL balancing)
    rep             max(free_nats, KL(q || sg(p)))   trains the posterior
With `free_nats_mode="batch"` the free nats bound the batch-mean KL instead of each step's (V1,
and V2's `free_avg`). A term whose component is absent (no decoder, no vector obs, no continue
head) is not produced;
with `kl_balance=False` both dyn and rep are the plain max(free_nats, KL(q || p)) (gradients to
both sides), i.e. total weight dyn + rep on an unbalanced KL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from worldmodels.envs.spaces import IMAGE_KEY, VECTOR_KEY, ActSpec, ArraySpec, ObsSpec
from worldmodels.models.base import Objective, Rollout, WorldModelBase, plain_specs, shift_actions
from worldmodels.models.heads import Decoder, DistHead, Encoder
from worldmodels.models.init import initialize
from worldmodels.models.nets import image_to_float
from worldmodels.models.optim import autocast
from worldmodels.models.rssm import RSSM, State

LOSS_TERMS = ("image", "vector", "reward", "cont", "dyn", "rep")
DEFAULT_LOSS_SCALES = {
    "image": 1.0,
    "vector": 1.0,
    "reward": 1.0,
    "cont": 1.0,
    "dyn": 0.5,
    "rep": 0.1,
}
REWARD_HEADS = ("twohot", "mse")
FREE_NATS_MODES = ("step", "batch")


class WorldModel(WorldModelBase):
    """Encoder + RSSM + decoder/reward/continue heads. See the module docstring for the API."""

    def __init__(
        self,
        obs_spec: ObsSpec,
        act_spec: ActSpec,
        units: int = 512,
        layers: int = 2,
        cnn_depth: int = 32,
        deter: int = 512,
        stoch: int = 32,
        classes: int = 32,
        hidden: int = 512,
        latent: str = "categorical",
        unimix: float = 0.01,
        gru_norm: bool = True,
        gru_blocks: int = 1,
        recurrent: bool = True,
        learned_initial: bool = True,
        decoder: bool = True,
        cont_head: bool = True,
        reward_head: str = "twohot",
        symlog_inputs: bool = True,
        bins: int = 255,
        free_nats: float = 1.0,
        kl_balance: bool = True,
        loss_scales: dict[str, float] | None = None,
        compile: bool = False,
        norm: str = "layer",
        act: str = "silu",
        winit: str = "torch",
        core: str = "gru",
        img_layers: int = 1,
        obs_layers: int = 1,
        dyn_layers: int = 1,
        cnn: str = "strided",
        enc_layers: int | None = None,
        enc_units: int | None = None,
        reward_layers: int | None = None,
        cont_layers: int | None = None,
        bins_space: str = "symlog",
        free_nats_mode: str = "step",
        cont_discount: float = 1.0,
        cnn_act: str | None = None,
    ):
        """Widths: `units`/`layers` are the MLP defaults; `enc_layers`/`enc_units` (vector
        encoder and decoder MLPs), `reward_layers`, `cont_layers` override them (None: the
        defaults); `cnn_act` is the CNNs' activation (None: `act`). `cont_discount` scales the
        continue target, (1 - is_terminal) * cont_discount:
        the current release's `contdisc` folds the discount 1 - 1/horizon into it. Other
        switches: see models/rssm.py (core, layers, initial state), models/nets.py (norm, act),
        models/init.py (winit), models/heads.py (cnn, bins_space)."""
        super().__init__()
        obs_spec, act_spec = plain_specs(obs_spec, act_spec)
        args = dict(locals())
        args.pop("self")
        args.pop("__class__", None)
        self._config = args
        if reward_head not in REWARD_HEADS:
            raise ValueError(
                f"unknown reward_head {reward_head!r}; valid: {', '.join(REWARD_HEADS)}"
            )
        scales = dict(DEFAULT_LOSS_SCALES if loss_scales is None else loss_scales)
        if set(scales) != set(LOSS_TERMS):
            raise ValueError(
                f"loss_scales keys {sorted(scales)} must be exactly {sorted(LOSS_TERMS)}"
            )
        if free_nats_mode not in FREE_NATS_MODES:
            raise ValueError(
                f"unknown free_nats_mode {free_nats_mode!r}; valid: {', '.join(FREE_NATS_MODES)}"
            )
        if not 0.0 < cont_discount <= 1.0:
            raise ValueError(f"cont_discount must be in (0, 1], got {cont_discount}")
        self.loss_scales = {k: float(v) for k, v in scales.items()}
        self.obs_spec, self.act_spec = obs_spec, act_spec
        self.free_nats, self.kl_balance = float(free_nats), kl_balance
        self.free_nats_mode, self.cont_discount = free_nats_mode, float(cont_discount)
        e_units, e_layers = enc_units or units, layers if enc_layers is None else enc_layers
        norm_act: dict[str, Any] = dict(norm=norm, act=act)

        self.encoder = Encoder(
            obs_spec,
            e_units,
            e_layers,
            cnn_depth,
            symlog_inputs,
            cnn=cnn,
            cnn_act=cnn_act,
            **norm_act,
        )
        self.rssm = RSSM(
            self.encoder.out_dim,
            act_spec.dim,
            deter,
            stoch,
            classes,
            hidden,
            latent,
            unimix,
            gru_norm,
            gru_blocks,
            recurrent,
            learned_initial,
            compile,
            core=core,
            img_layers=img_layers,
            obs_layers=obs_layers,
            dyn_layers=dyn_layers,
            **norm_act,
        )
        f = self.rssm.feat_dim
        deter_feat = deter if recurrent else 0
        self.decoder = (
            Decoder(
                f,
                obs_spec,
                e_units,
                e_layers,
                cnn_depth,
                symlog_inputs,
                cnn=cnn,
                deter_dim=deter_feat,
                cnn_units=units,
                cnn_act=cnn_act,
                **norm_act,
            )
            if decoder
            else None
        )
        r_layers = layers if reward_layers is None else reward_layers
        c_layers = layers if cont_layers is None else cont_layers
        self.reward = DistHead(
            f,
            reward_head,
            units,
            r_layers,
            bins,
            zero_init=reward_head == "twohot",
            bins_space=bins_space,
            **norm_act,
        )
        self.cont = DistHead(f, "bernoulli", units, c_layers, **norm_act) if cont_head else None
        initialize(self, winit)
        if compile:
            # Small launch-bound pieces only: the RSSM cells (in RSSM) and the scalar heads. The
            # conv encoder/decoder already run as a few large cuDNN/oneDNN kernels, and on CPU
            # inductor's code for them measured slower than eager.
            for head in (self.reward, self.cont):
                if head is not None:
                    head.net.compile(dynamic=False)

        terms = ["reward", "dyn", "rep"]
        if decoder:
            terms += [k for k in (IMAGE_KEY, VECTOR_KEY) if k in obs_spec]
        if cont_head:
            terms.append("cont")
        self.active_terms = frozenset(terms)

    # ---- construction ----------------------------------------------------------------------
    @property
    def feat_dim(self) -> int:
        return self.rssm.feat_dim

    @property
    def device(self) -> torch.device:
        return self.rssm.init_deter.device  # cheaper than next(self.parameters())

    def config(self) -> dict[str, Any]:
        """Constructor options as plain Python values (specs excluded); see models/build.py."""
        cfg = {k: v for k, v in self._config.items() if k not in ("obs_spec", "act_spec")}
        cfg["loss_scales"] = dict(self.loss_scales)
        return cfg

    def feat(self, state: State) -> torch.Tensor:
        return self.rssm.feat(state)

    @property
    def predicts_continue(self) -> bool:
        return self.cont is not None

    def continue_prob(self, feat: torch.Tensor) -> torch.Tensor | None:
        return None if self.cont is None else self.cont(feat).mean

    def context_spec(self) -> dict[str, ArraySpec]:
        """The RSSM state (h, z) a replay stores per row for replay context."""
        return {
            "deter": ArraySpec((self.rssm.deter_dim,), "float32"),
            "stoch": ArraySpec((self.rssm.stoch_dim,), "float32"),
        }

    # ---- filtering and imagination ---------------------------------------------------------
    def initial(self, batch: int) -> State:
        """Initial RSSM state for `batch` sequences."""
        return self.rssm.initial(batch)

    def observe(
        self,
        state: State | None,
        obs: Mapping[str, torch.Tensor],
        prev_action: torch.Tensor,
        is_first: torch.Tensor,
        sample: bool = True,
    ) -> tuple[State, torch.Tensor]:
        """Posterior state(s) and features for one step ([B]) or a sequence ([B, T]);
        `sample=False` filters with posterior modes (deterministic, e.g. for evaluation)."""
        post, _ = self._observe(state, obs, prev_action, is_first, sample)
        return post, self.rssm.feat(post)

    def _observe(
        self,
        state: State | None,
        obs: Mapping[str, torch.Tensor],
        prev_action: torch.Tensor,
        is_first: torch.Tensor,
        sample: bool = True,
    ) -> tuple[State, torch.Tensor]:
        single = is_first.dim() == 1
        if single:
            obs = {k: v.unsqueeze(1) for k, v in obs.items()}
            prev_action, is_first = prev_action.unsqueeze(1), is_first.unsqueeze(1)
        if state is None:
            state = self.initial(is_first.shape[0])
        embed = self.encoder({k: v for k, v in obs.items() if k in self.obs_spec})  # [B, T, E]
        post, prior_stat = self.rssm.observe(state, embed, prev_action, is_first, sample)
        if single:
            post = {k: v[:, 0] for k, v in post.items()}
            prior_stat = prior_stat[:, 0]
        return post, prior_stat

    def imagine(
        self,
        start: State,
        policy_or_actions: Callable[[torch.Tensor], torch.Tensor] | torch.Tensor,
        horizon: int,
    ) -> Rollout:
        """Roll the prior `horizon` steps from `start` (leading dims flattened to N) under a policy
        (feat [N, F] -> action [N, A]) or given actions [H, N, A]; predict rewards and continues."""
        lead = start["deter"].shape[:-1]
        start = {k: v.reshape(-1, v.shape[-1]) for k, v in start.items()}
        if not callable(policy_or_actions):
            n = start["deter"].shape[0]
            if policy_or_actions.shape[:2] != (horizon, n):
                raise ValueError(
                    f"actions must be [H={horizon}, N={n}, A], "
                    f"got {tuple(policy_or_actions.shape)} (start {tuple(lead)})"
                )
        states, action, feat = self.rssm.imagine_features(start, policy_or_actions, horizon)
        reward = self.reward(feat[1:]).mean  # [H, N]
        cont = self.cont(feat[1:]).mean if self.cont is not None else torch.ones_like(reward)
        return Rollout(feat, action, reward, cont, states)

    # ---- losses and update -----------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], State]:
        """Unweighted loss terms (dict of [B, T]) and posteriors [B, T] for a sequences batch."""
        terms, post, _ = self._loss(batch)
        return terms, post

    def _loss(
        self,
        batch: Mapping[str, torch.Tensor],
        start: State | None = None,
        prev_action: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], State, torch.Tensor]:
        """`start` [B] and `prev_action` [B, T, A] continue a stream (replay context); by
        default the sequence starts from the initial state with shifted actions."""
        is_first = batch["is_first"]
        if prev_action is None:
            prev_action = shift_actions(batch["action"], is_first)
        obs = {k: batch[k] for k in self.obs_spec}
        post, prior_stat = self._observe(start, obs, prev_action, is_first)
        feat = self.rssm.feat(post)  # [B, T, F]
        terms: dict[str, torch.Tensor] = {}
        if self.decoder is not None:
            for key, dist in self.decoder(feat).items():
                target = image_to_float(obs[key]) if key == IMAGE_KEY else obs[key]
                terms[key] = -dist.log_prob(target)
        terms["reward"] = -self.reward(feat).log_prob(batch["reward"])
        if self.cont is not None:
            target = (1.0 - batch["is_terminal"].float()) * self.cont_discount
            terms["cont"] = -self.cont(feat).log_prob(target)
        q, p = post["stat"], prior_stat
        if self.kl_balance:
            terms["dyn"] = self._free(self.rssm.kl(q.detach(), p))
            terms["rep"] = self._free(self.rssm.kl(q, p.detach()))
        else:
            kl = self._free(self.rssm.kl(q, p))
            terms["dyn"], terms["rep"] = kl, kl
        assert set(terms) == self.active_terms, (
            f"loss terms {sorted(terms)} != {sorted(self.active_terms)}"
        )
        return terms, post, prior_stat

    def _free(self, kl: torch.Tensor) -> torch.Tensor:
        """max(free_nats, KL) per step, or of the batch mean (broadcast back to [B, T])."""
        if self.free_nats_mode == "batch":
            return kl.mean().clamp(min=self.free_nats).expand_as(kl)
        return kl.clamp(min=self.free_nats)

    def total_loss(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sum of scale * mean(term) over the terms (0-dim)."""
        assert set(terms) <= set(self.loss_scales), (
            f"unscaled loss terms: {set(terms) - set(self.loss_scales)}"
        )
        return sum(
            (self.loss_scales[k] * v.mean() for k, v in terms.items()),
            torch.zeros((), device=self.device),
        )

    def objective(
        self,
        batch: Mapping[str, torch.Tensor],
        start: State | None = None,
        prev_action: torch.Tensor | None = None,
    ) -> Objective:
        """The scaled loss, its terms, the posteriors and the KL / entropy diagnostics."""
        terms, post, prior_stat = self._loss(batch, start, prev_action)
        with torch.no_grad():
            metrics = {
                "wm/kl": self.rssm.kl(post["stat"], prior_stat).mean(),
                "wm/prior_entropy": self.rssm.entropy(prior_stat).mean(),
                "wm/post_entropy": self.rssm.entropy(post["stat"]).mean(),
            }
        return Objective(self.total_loss(terms), terms, post, metrics)

    # ---- diagnostics -----------------------------------------------------------------------
    @property
    def can_predict_video(self) -> bool:
        return self.decoder is not None and IMAGE_KEY in self.obs_spec

    @torch.no_grad()
    def video_prediction(self, batch: Mapping[str, torch.Tensor], context: int = 5) -> torch.Tensor:
        """Open-loop prediction of the first sequence of `batch`: observe `context` frames, then
        imagine with the batch's actions. Returns uint8 [T, H, 3W, C]: truth | model | error."""
        if not self.can_predict_video:
            raise ValueError(
                "video_prediction needs an image observation and a decoder (decoder=true)"
            )
        seq = {k: v[:1] for k, v in batch.items()}
        image = seq[IMAGE_KEY]  # [1, T, H, W, C]
        t = image.shape[1]
        if not 0 < context < t:
            raise ValueError(
                f"context must be in 1..{t - 1} for sequences of length {t}, got {context}"
            )
        assert self.decoder is not None and self.decoder.cnn is not None
        with autocast(self.device):
            obs = {k: seq[k][:, :context] for k in self.obs_spec}
            prev = shift_actions(seq["action"], seq["is_first"])
            post, feat = self.observe(None, obs, prev[:, :context], seq["is_first"][:, :context])
            start = {k: v[:, -1] for k, v in post.items()}
            actions = seq["action"][:, context - 1 : t - 1].transpose(0, 1)  # [T-ctx, 1, A]
            roll = self.imagine(start, actions, t - context)
            feats = torch.cat([feat, roll.feat[1:].transpose(0, 1)], 1)  # [1, T, F]
            model = self.decoder.cnn(feats)[0].float()  # [T, C, H, W] in [-0.5, 0.5]
        model = ((model.permute(0, 2, 3, 1) + 0.5).clamp(0, 1) * 255).to(
            torch.uint8
        )  # [T, H, W, C]
        truth = image[0]
        error = (truth.float() - model.float()).abs().to(torch.uint8)
        return torch.cat([truth, model, error], 2)  # [T, H, 3W, C]
