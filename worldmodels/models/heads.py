"""Heads on top of observations or RSSM features: the observation encoder and decoder, scalar
prediction heads (reward, continue, value) and the policy head.

- `Encoder`: obs dict -> embedding [..., E]; CNN for "image" (uint8 HWC, 16/32/64 px), MLP for
  "vector" (symlog-squashed when asked), concatenated.
- `Decoder`: features -> {"image": MSEDist over [..., C, H, W] in [-0.5, 0.5] units,
  "vector": MSEDist (symlog space when asked)}.
- `DistHead`: features -> TwoHot (symlog two-hot regression), MSEDist, or Bernoulli.
- `PolicyHead`: features -> OneHotST (discrete), BoundedNormal or TanhNormal (continuous).
"""

from __future__ import annotations

import torch
from torch import nn

from worldmodels.envs.spaces import IMAGE_KEY, VECTOR_KEY, ActSpec, ObsSpec
from worldmodels.models.dists import (
    Bernoulli,
    BoundedNormal,
    MSEDist,
    OneHotST,
    TanhNormal,
    TwoHot,
    symlog,
    twohot_bins,
    unimix_logits,
)
from worldmodels.models.nets import ConvDecoder, ConvEncoder, mlp

HEAD_KINDS = ("twohot", "mse", "bernoulli")
POLICY_DISTS = ("auto", "bounded_normal", "tanh_normal", "onehot")


def _check_obs_spec(obs_spec: ObsSpec) -> None:
    unknown = set(obs_spec) - {IMAGE_KEY, VECTOR_KEY}
    if unknown or not obs_spec:
        raise ValueError(f"observation keys {sorted(obs_spec)} not supported; valid: image, vector")


class Encoder(nn.Module):
    """Observation dict -> embedding [..., out_dim] (any leading dims)."""

    def __init__(
        self, obs_spec: ObsSpec, units: int, layers: int, cnn_depth: int, symlog_inputs: bool = True
    ):
        super().__init__()
        _check_obs_spec(obs_spec)
        self.symlog_inputs = symlog_inputs
        self.out_dim = 0
        self.cnn: ConvEncoder | None = None
        self.mlp: nn.Module | None = None
        if IMAGE_KEY in obs_spec:
            h, w, c = obs_spec[IMAGE_KEY].shape
            self.cnn = ConvEncoder((h, w, c), depth=cnn_depth)
            self.out_dim += self.cnn.out_dim
        if VECTOR_KEY in obs_spec:
            self.mlp = mlp(obs_spec[VECTOR_KEY].shape[0], None, units, layers)
            self.out_dim += units

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        if self.cnn is not None:
            parts.append(self.cnn(obs[IMAGE_KEY]))  # [..., E_img]
        if self.mlp is not None:
            vec = obs[VECTOR_KEY].float()
            parts.append(self.mlp(symlog(vec) if self.symlog_inputs else vec))  # [..., units]
        return torch.cat(parts, -1) if len(parts) > 1 else parts[0]


class Decoder(nn.Module):
    """Features [..., F] -> a distribution per observation key (loss = -log_prob = sum sq error)."""

    def __init__(
        self,
        feat_dim: int,
        obs_spec: ObsSpec,
        units: int,
        layers: int,
        cnn_depth: int,
        symlog_inputs: bool = True,
    ):
        super().__init__()
        _check_obs_spec(obs_spec)
        self.symlog_inputs = symlog_inputs
        self.cnn: ConvDecoder | None = None
        self.mlp: nn.Module | None = None
        if IMAGE_KEY in obs_spec:
            h, w, c = obs_spec[IMAGE_KEY].shape
            self.cnn = ConvDecoder(feat_dim, (h, w, c), depth=cnn_depth)
        if VECTOR_KEY in obs_spec:
            self.mlp = mlp(feat_dim, obs_spec[VECTOR_KEY].shape[0], units, layers)

    def forward(self, feat: torch.Tensor) -> dict[str, MSEDist]:
        out = {}
        if self.cnn is not None:
            out[IMAGE_KEY] = MSEDist(self.cnn(feat), dims=3)  # mean [..., C, H, W]
        if self.mlp is not None:
            out[VECTOR_KEY] = MSEDist(self.mlp(feat), dims=1, use_symlog=self.symlog_inputs)
        return out


class DistHead(nn.Module):
    """Features -> a scalar distribution: "twohot" (symlog two-hot, `bins` bins), "mse" or
    "bernoulli". `zero_init` zeroes the output layer (DreamerV3 reward/value: predict 0 first)."""

    bins: torch.Tensor

    def __init__(
        self,
        feat_dim: int,
        kind: str,
        units: int,
        layers: int,
        bins: int = 255,
        zero_init: bool = False,
    ):
        super().__init__()
        if kind not in HEAD_KINDS:
            raise ValueError(f"unknown head kind {kind!r}; valid: {', '.join(HEAD_KINDS)}")
        self.kind = kind
        self.net = mlp(feat_dim, bins if kind == "twohot" else 1, units, layers)
        if zero_init:
            out = self.net[-1]
            assert isinstance(out, nn.Linear)
            nn.init.zeros_(out.weight)
            nn.init.zeros_(out.bias)
        self.register_buffer("bins", twohot_bins(bins), persistent=False)

    def forward(self, feat: torch.Tensor) -> TwoHot | MSEDist | Bernoulli:
        out = self.net(feat)
        if self.kind == "twohot":
            return TwoHot(out, self.bins)
        if self.kind == "mse":
            return MSEDist(out.squeeze(-1))
        return Bernoulli(out.squeeze(-1))


class PolicyHead(nn.Module):
    """Features -> action distribution. `dist="auto"`: one-hot for discrete actions, bounded normal
    for continuous ones. Discrete logits get a `unimix` uniform mix (DreamerV3: 1%)."""

    def __init__(
        self,
        feat_dim: int,
        act_spec: ActSpec,
        units: int,
        layers: int,
        dist: str = "auto",
        unimix: float = 0.01,
    ):
        super().__init__()
        if dist not in POLICY_DISTS:
            raise ValueError(f"unknown actor dist {dist!r}; valid: {', '.join(POLICY_DISTS)}")
        if dist == "auto":
            dist = "onehot" if act_spec.discrete else "bounded_normal"
        if (dist == "onehot") != act_spec.discrete:
            raise ValueError(
                f"actor dist {dist!r} does not fit a "
                f"{'discrete' if act_spec.discrete else 'continuous'} action space"
            )
        self.dist, self.unimix = dist, unimix
        self.net = mlp(feat_dim, act_spec.dim * (1 if act_spec.discrete else 2), units, layers)

    def forward(self, feat: torch.Tensor) -> OneHotST | BoundedNormal | TanhNormal:
        out = self.net(feat)
        if self.dist == "onehot":
            return OneHotST(unimix_logits(out, self.unimix))
        if self.dist == "bounded_normal":
            return BoundedNormal(out)
        return TanhNormal(out)
