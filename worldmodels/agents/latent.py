"""World-model features for the model-free heads (`input=latent`, `imagination=true`).

A head with latent input owns a `LatentFeatures`: a world model (models/base.py's interface) built
from its config node (configs/world_model/) or loaded from a run's RUN_DIR/world_model.pt (models/
build.py), trained on the head's own sequences batch (or kept frozen), which

- filters observations into features for acting (`observe`; the act state is (posterior [B],
  previous action [B, A]), reset where is_first, as Dreamer acts);
- trains the world model on a sequences batch and returns its posteriors (`train_step`);
- turns a sequences batch's posterior features into one-step transitions (`transitions`, for SAC)
  under the ROW convention (worldmodels.envs.spaces): action_t at row t, reward_{t+1},
  discount gamma * (1 - is_terminal_{t+1}), no transition out of an is_last row;
- imagines from posteriors with the head's policy (`imagine`): the model-based half of the
  model-based vs model-free comparison on one model.

The head's `world_model` argument is the world model's config node (or a built one), its `latent`
argument the fields of `LatentConfig` (configs/agent/sac.yaml). Everything stays on the device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from worldmodels.agents.base import DataSpec
from worldmodels.envs.spaces import ActSpec, ObsSpec
from worldmodels.models.actor_critic import ObsEncoder
from worldmodels.models.base import Rollout, State, WorldModelBase, shift_actions
from worldmodels.models.build import load_world_model, own_world_model, plain
from worldmodels.models.optim import autocast
from worldmodels.models.options import dataclass_options
from worldmodels.objectives.dreamer_losses import imagination_weight

INPUTS = ("obs", "latent")
#: Key under which a head stores features in place of observations (PPO's minibatch dicts).
FEAT_KEY = "feat"
#: The act state of a latent head: (posterior [B], previous action [B, A]).
LatentState = tuple[State, torch.Tensor]


@dataclass
class LatentConfig:
    """Settings of the latent mode (the head's `latent` argument); the world model's own options
    are its config node (`world_model`)."""

    batch_size: int = 16  # B sequences per update (the head's data spec becomes sequences)
    batch_length: int = 64  # T rows per sequence
    horizon: int = 15  # H imagined steps (imagination=true)
    train: bool = True  # false: a loaded world model stays frozen
    lr: float = 1e-4
    eps: float = 1e-8
    clip: float = 1000.0


def check_modes(input: str, imagination: bool, agent: str) -> None:
    """Valid `input` values; imagination needs a world model (input=latent)."""
    if input not in INPUTS:
        raise ValueError(f"{agent}: unknown input {input!r}; valid options: {list(INPUTS)}")
    if imagination and input != "latent":
        raise ValueError(
            f"{agent}: imagination=true needs input=latent (a world model to dream in)"
        )


class LatentFeatures(nn.Module):
    """A world model a model-free head reads features from; see the module docstring."""

    def __init__(
        self,
        obs_spec: ObsSpec,
        act_spec: ActSpec,
        device: torch.device,
        world_model: WorldModelBase | Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        path: str | None = None,
        agent: str = "agent",
    ):
        super().__init__()
        options = plain(settings or {})
        self.cfg = cfg = dataclass_options(LatentConfig, agent, options, "agent.latent.")
        if cfg.batch_size < 1 or cfg.batch_length < 2 or cfg.horizon < 1:
            raise ValueError(
                f"{agent}: world_model needs batch_size >= 1, batch_length >= 2, horizon >= 1, "
                f"got {cfg.batch_size}, {cfg.batch_length}, {cfg.horizon}"
            )
        self.wm: WorldModelBase
        if path:  # the loaded model keeps the options it was trained with
            self.wm = load_world_model(path, device)
            if self.wm.act_spec.dim != act_spec.dim or set(self.wm.obs_spec) != set(obs_spec):
                raise ValueError(
                    f"{agent}: world model at {path} was trained for obs {sorted(self.wm.obs_spec)}"
                    f" and {self.wm.act_spec.dim} actions, this env has obs {sorted(obs_spec)} and "
                    f"{act_spec.dim} actions"
                )
        else:
            if not cfg.train:
                raise ValueError(
                    f"{agent}: latent.train=false freezes a world model; it needs "
                    "world_model_path (a fresh, untrained one would give random features)"
                )
            self.wm = own_world_model(world_model, obs_spec, act_spec, device, f"{agent} latent")
        self.act_dim = act_spec.dim
        self.device = device
        if not cfg.train:
            self.wm.requires_grad_(False)
        # A frozen model has no optimizer: nothing in it may change.
        self.opt = self.wm.make_optimizer(cfg.lr, cfg.eps) if cfg.train else None

    @property
    def feat_dim(self) -> int:
        return self.wm.feat_dim

    # ---- acting --------------------------------------------------------------------------
    @torch.no_grad()
    def init_state(self, batch_size: int) -> LatentState:
        """(RSSM state [B], previous action [B, A] = 0)."""
        return self.wm.initial(batch_size), torch.zeros(
            batch_size, self.act_dim, device=self.device
        )

    @torch.no_grad()
    def observe(
        self, obs: dict[str, torch.Tensor], state: LatentState | None, sample: bool
    ) -> tuple[torch.Tensor, State]:
        """Filter o_t (state reset where obs["is_first"]): features [B, F] and the posterior [B].
        `sample=False` filters with posterior modes (deterministic evaluation)."""
        is_first = obs["is_first"]
        if state is None:
            state = self.init_state(is_first.shape[0])
        latent, prev_action = state
        with autocast(self.device):
            post, feat = self.wm.observe(latent, obs, prev_action, is_first, sample=sample)
        return feat.float(), post

    # ---- learning ------------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], State]:
        """One world-model step on a sequences batch [B, T] (or, frozen, just filtering).
        Returns 0-dim "wm/..." metrics and detached posteriors [B, T]."""
        if self.opt is not None:
            return self.wm.train_step(batch, self.opt, self.cfg.clip)
        with torch.no_grad(), autocast(self.device):
            prev = shift_actions(batch["action"], batch["is_first"])
            obs = {k: batch[k] for k in self.wm.obs_spec}
            post, _ = self.wm.observe(None, obs, prev, batch["is_first"])
        return {}, post

    def features(self, post: State) -> torch.Tensor:
        """Detached float32 features of posteriors: [..., F]."""
        with torch.no_grad():
            return self.wm.feat(post).float()

    @staticmethod
    def transitions(
        feat: torch.Tensor, batch: dict[str, torch.Tensor], gamma: float
    ) -> dict[str, torch.Tensor]:
        """Consecutive features of each window as one-step transitions, flattened to
        M = B * (T-1): "feat"/"next_feat" [M, F], "action" [M, A] (action_t), "reward" [M]
        (reward_{t+1}), "discount" [M] (gamma * (1 - is_terminal_{t+1})), "mask" [M] (0 where
        row t is_last, or row t+1 starts a new episode: no transition crosses an episode end)."""
        b, t = feat.shape[:2]
        m = b * (t - 1)
        mask = ~batch["is_last"][:, :-1] & ~batch["is_first"][:, 1:]  # [B, T-1]
        return {
            "feat": feat[:, :-1].reshape(m, -1),
            "next_feat": feat[:, 1:].reshape(m, -1),
            "action": batch["action"][:, :-1].reshape(m, -1),
            "reward": batch["reward"][:, 1:].reshape(m).float(),
            "discount": gamma * (1.0 - batch["is_terminal"][:, 1:].reshape(m).float()),
            "mask": mask.reshape(m).float(),
        }

    def imagine(
        self,
        post: State,
        batch: dict[str, torch.Tensor],
        policy: Callable[[torch.Tensor], torch.Tensor],
    ) -> tuple[Rollout, torch.Tensor]:
        """Roll H steps from every posterior [B, T] (N = B*T starts) with `policy` (feat [N, F]
        -> action [N, A]) without gradients: the head learns from the imagined data as it would
        from real data. Returns the rollout (float32) and weights [H, N]: the probability the
        episode still runs at imagined state t (0 from a terminal start)."""
        start = {k: v.reshape(-1, v.shape[-1]) for k, v in post.items()}  # [N, ...]
        start_cont = 1.0 - batch["is_terminal"].reshape(-1).float()  # [N]
        with torch.no_grad(), autocast(self.device):
            roll = self.wm.imagine(start, lambda f: policy(f.float()), self.cfg.horizon)
        roll = Rollout(
            roll.feat.float(),
            roll.action.float(),
            roll.reward.float(),
            roll.cont.float(),
            roll.state,
        )
        return roll, imagination_weight(start_cont, roll.cont)

    def update_head(
        self,
        batch: dict[str, torch.Tensor],
        step: Callable[..., dict[str, torch.Tensor]],
        policy: Callable[[torch.Tensor], torch.Tensor],
        gamma: float,
        imagination: bool,
    ) -> dict[str, torch.Tensor]:
        """A transitions head's whole latent update: a world-model step, then the head's
        `step(feat, action, reward, discount, next_feat, weight)` (all flat [M, ...]) on imagined
        transitions from every posterior (`imagination`, acting with `policy`) or on the batch's
        own consecutive posterior features. Returns the merged 0-dim metrics."""
        metrics, post = self.train_step(batch)
        if imagination:
            roll, weight = self.imagine(post, batch, policy)
            h, n = roll.reward.shape
            metrics.update(
                step(
                    roll.feat[:-1].reshape(h * n, -1),  # [H N, F]
                    roll.action.reshape(h * n, -1),
                    roll.reward.reshape(-1),
                    gamma * roll.cont.reshape(-1),
                    roll.feat[1:].reshape(h * n, -1),
                    weight.reshape(-1),
                )
            )
            metrics["agent/imag_reward_mean"] = roll.reward.mean()
            return metrics
        tr = self.transitions(self.features(post), batch, gamma)
        metrics.update(
            step(
                tr["feat"], tr["action"], tr["reward"], tr["discount"], tr["next_feat"], tr["mask"]
            )
        )
        return metrics

    # ---- persistence ---------------------------------------------------------------------
    def state_dict_parts(self) -> dict[str, Any]:
        """The world model and its optimizer, as entries of the head's state dict."""
        out: dict[str, Any] = {"world_model": self.wm.state_dict()}
        if self.opt is not None:
            out["model_opt"] = self.opt.state_dict()
        return out

    def load_state_dict_parts(self, state: dict[str, Any]) -> None:
        self.wm.load_state_dict(state["world_model"])
        if self.opt is not None:
            self.opt.load_state_dict(state["model_opt"])


@dataclass
class FeatureSource:
    """Where a transitions head (SAC, TD3) gets its features: a world model (latent input) or its
    own observation encoder, with the data spec that goes with it."""

    latent: LatentFeatures | None
    encoder: ObsEncoder | None
    data: DataSpec
    feat_dim: int
    trunk: int  # DrQ-v2 trunk width for pixel encoders (0: none)


def feature_source(
    name: str,
    input: str,
    obs_spec: ObsSpec,
    act_spec: ActSpec,
    device: torch.device,
    world_model: Mapping[str, Any] | WorldModelBase | None,
    latent_settings: Mapping[str, Any] | None,
    world_model_path: str | None,
    *,
    batch: int,
    n_step: int,
    gamma: float,
    cnn_depth: int,
    aug_pad: int,
    trunk_dim: int,
) -> FeatureSource:
    """Latent input: a LatentFeatures world model, trained on [B, T] sequences. Obs input: an
    ObsEncoder (CNN with random shift for pixels) on n-step transitions."""
    if input == "latent":
        latent = LatentFeatures(
            obs_spec, act_spec, device, world_model, latent_settings, world_model_path, name
        )
        data = DataSpec("sequences", batch=latent.cfg.batch_size, length=latent.cfg.batch_length)
        return FeatureSource(latent, None, data, latent.feat_dim, 0)
    encoder = ObsEncoder(obs_spec, cnn_depth=cnn_depth, aug_pad=aug_pad).to(device)
    data = DataSpec(kind="transitions", batch=batch, n_step=n_step, gamma=gamma)
    trunk = trunk_dim if encoder.has_image else 0
    return FeatureSource(None, encoder, data, encoder.out_dim, trunk)
