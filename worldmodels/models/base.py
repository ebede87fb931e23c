"""The world-model interface: what Dreamer, the planners and the latent-input heads use of a world
model, and all they may use. The RSSM (models/world_model.py) is one implementation; a new world
model (a transformer, a TD-MPC2-style latent model) is one subclass and one yaml in
configs/world_model/ with its `_target_` (built by models/build.py).

    wm.initial(B) -> State                                    # State: dict of tensors [B, ...]
    wm.observe(state, obs, prev_action, is_first, sample=True) -> (state, feat)
        one step: obs {key: [B, ...]}, prev_action [B, A], is_first [B] -> state [B], feat [B, F];
        a sequence: [B, T, ...] in, posteriors [B, T] and feat [B, T, F] out (state None: initial)
    wm.imagine(start, policy_or_actions, H) -> Rollout
        start: State with any leading dims (flattened to N); policy feat [N, F] -> action [N, A],
        or actions [H, N, A]; reward_t / cont_t are predicted at state t+1
    wm.objective(batch, start=None, prev_action=None) -> Objective
        the scalar loss (with gradients), its unweighted [B, T] terms, the posteriors [B, T]
        (with gradients) and 0-dim diagnostics; `start`/`prev_action` continue a stream (replay
        context: `context_spec` names what the replay stores per row to restart from)
    wm.train_step(batch, optimizer, clip, start=None, prev_action=None) -> (metrics, posteriors)
    wm.feat(state) -> [..., F];  wm.feat_dim -> F
    wm.continue_prob(feat) -> [...] or None (no continue head: every episode runs on)
    wm.config() -> the constructor options (plain values) that rebuild it; see build.py

Row convention (worldmodels.envs.spaces): action_t is taken at obs_t, so the step for o_t uses
action_{t-1}, zero at t=0 and at episode starts (`shift_actions`). Metrics are namespaced "wm/...".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import nn

from worldmodels.envs.spaces import ActSpec, ArraySpec, ObsSpec
from worldmodels.models.optim import adam, autocast, clip_grads

#: A world model's latent state: named tensors with shared leading dims ([B], [B, T], [H+1, N]).
State = dict[str, torch.Tensor]
Policy = Callable[[torch.Tensor], torch.Tensor]  # feat [N, F] -> action [N, A]


class Rollout(NamedTuple):
    """An imagined trajectory: states 0..H, actions/rewards/continues of the H transitions."""

    feat: torch.Tensor  # [H+1, N, F]
    action: torch.Tensor  # [H, N, A]
    reward: torch.Tensor  # [H, N] reward on arriving at state t+1
    cont: torch.Tensor  # [H, N] probability the episode continues at state t+1
    state: State  # [H+1, N]


class Objective(NamedTuple):
    """A world model's loss on a sequences batch [B, T]."""

    loss: torch.Tensor  # 0-dim, the scaled sum of the terms, with gradients
    terms: dict[str, torch.Tensor]  # unweighted [B, T] terms by name
    post: State  # posteriors [B, T], with gradients
    metrics: dict[str, torch.Tensor]  # extra 0-dim "wm/..." diagnostics, detached


def shift_actions(action: torch.Tensor, is_first: torch.Tensor) -> torch.Tensor:
    """Row actions [B, T, A] -> the previous actions [B, T, A] a world model steps with:
    action_{t-1}, zero at t=0 and where is_first."""
    prev = torch.cat([torch.zeros_like(action[:, :1]), action[:, :-1]], 1)
    return prev * (1.0 - is_first.float()).unsqueeze(-1)


def plain_specs(obs_spec: ObsSpec, act_spec: ActSpec) -> tuple[ObsSpec, ActSpec]:
    """Copies of the specs as the plain dataclasses (hydra.utils.instantiate hands them over as
    OmegaConf structured configs)."""
    obs = {
        str(k): ArraySpec(tuple(int(d) for d in v.shape), str(v.dtype)) for k, v in obs_spec.items()
    }
    return obs, ActSpec(int(act_spec.dim), bool(act_spec.discrete))


class WorldModelBase(nn.Module, ABC):
    """The interface (module docstring). Subclasses take `(obs_spec, act_spec, **options)`."""

    obs_spec: ObsSpec
    act_spec: ActSpec
    #: the discount folded into the continue target (1.0: none; DreamerV3's contdisc: gamma)
    cont_discount: float = 1.0

    @property
    @abstractmethod
    def feat_dim(self) -> int:
        """F, the size of the features `observe`, `feat` and `imagine` return."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @abstractmethod
    def initial(self, batch: int) -> State:
        """The state before the first observation, for `batch` streams."""

    @abstractmethod
    def observe(
        self,
        state: State | None,
        obs: Mapping[str, torch.Tensor],
        prev_action: torch.Tensor,
        is_first: torch.Tensor,
        sample: bool = True,
    ) -> tuple[State, torch.Tensor]:
        """Filter observations into states and features (module docstring); `sample=False`
        filters deterministically (evaluation)."""

    @abstractmethod
    def imagine(
        self, start: State, policy_or_actions: Policy | torch.Tensor, horizon: int
    ) -> Rollout:
        """Roll forward `horizon` steps from `start` under a policy or given actions."""

    @abstractmethod
    def feat(self, state: State) -> torch.Tensor:
        """Features [..., F] of states [...]."""

    @abstractmethod
    def objective(
        self,
        batch: Mapping[str, torch.Tensor],
        start: State | None = None,
        prev_action: torch.Tensor | None = None,
    ) -> Objective:
        """The loss on a sequences batch (module docstring)."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The options (plain Python values, specs excluded) that rebuild this model."""

    @property
    def predicts_continue(self) -> bool:
        """Whether `continue_prob` predicts (else every imagined episode runs on)."""
        return False

    def continue_prob(self, feat: torch.Tensor) -> torch.Tensor | None:
        """P(the episode continues) at states with features [..., F]; None: not predicted."""
        return None

    def context_spec(self) -> dict[str, ArraySpec]:
        """Per-row state entries a replay can store so that a sequence restarts from the state
        the policy had (replay context); {}: this model cannot restart from stored state."""
        return {}

    def make_optimizer(self, lr: float = 1e-4, eps: float = 1e-8) -> torch.optim.Optimizer:
        """Adam over all parameters (models/optim.py's one factory)."""
        return adam(self.parameters(), lr, eps)

    def train_step(
        self,
        batch: Mapping[str, torch.Tensor],
        optimizer: torch.optim.Optimizer,
        clip: float = 1000.0,
        start: State | None = None,
        prev_action: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], State]:
        """One gradient step on a sequences batch. Returns 0-dim "wm/..." metrics and the
        detached posteriors [B, T] (imagination starts). No host sync."""
        with autocast(self.device):
            out = self.objective(batch, start, prev_action)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        grad_norm = clip_grads(self.parameters(), clip)
        optimizer.step()
        return self.metrics(out) | {"wm/grad_norm": grad_norm.detach()}, {
            k: v.detach() for k, v in out.post.items()
        }

    @staticmethod
    def metrics(out: Objective) -> dict[str, torch.Tensor]:
        """The 0-dim metrics of an objective: "wm/loss", "wm/loss/<term>" and its diagnostics."""
        with torch.no_grad():
            metrics = {f"wm/loss/{k}": v.mean().detach() for k, v in out.terms.items()}
            metrics["wm/loss"] = out.loss.detach()
            metrics.update(out.metrics)
        return metrics

    @property
    def can_predict_video(self) -> bool:
        """Whether `video_prediction` draws frames (an image decoder)."""
        return False

    def video_prediction(self, batch: Mapping[str, torch.Tensor], context: int = 5) -> torch.Tensor:
        """uint8 frames [T, H, W', C] of an open-loop prediction (truth | model | error) after
        `context` observed frames."""
        raise ValueError(f"{type(self).__name__} predicts no video")
