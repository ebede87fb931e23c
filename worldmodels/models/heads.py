"""Heads on top of observations or RSSM features: the observation encoder and decoder, scalar
prediction heads (reward, continue, value) and the policy head.

- `Encoder`: obs dict -> embedding [..., E]; CNN for "image" (uint8 HWC, 16/32/64 px; `cnn`:
  "strided" 4x4 stride-2 "same" convs of the 2023 release, "pooled" 5x5 convs + max-pool of the
  current release, "valid" unpadded 4x4 stride-2 convs of V1/V2), MLP for "vector"
  (symlog-squashed when asked), concatenated.
- `Decoder`: features -> {"image": MSEDist over [..., C, H, W] in [-0.5, 0.5] units,
  "vector": MSEDist (symlog space when asked)}.
- `DistHead`: features -> TwoHot (symlog two-hot regression), MSEDist, or Bernoulli.
- `PolicyHead`: features -> OneHotST (discrete), BoundedNormal, TanhNormal or TruncNormal
  (continuous).
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
    TruncNormal,
    TwoHot,
    symlog,
    twohot_bins,
    unimix_logits,
)
from worldmodels.models.init import set_outscale
from worldmodels.models.nets import ConvDecoder, ConvEncoder, PaddedLinear, mlp
from worldmodels.models.pool_conv import PooledConvEncoder, UpsampleConvDecoder
from worldmodels.models.valid_conv import ValidConvDecoder, ValidConvEncoder

HEAD_KINDS = ("twohot", "mse", "bernoulli")
POLICY_DISTS = ("auto", "bounded_normal", "tanh_normal", "trunc_normal", "onehot")
CNN_KINDS = ("strided", "pooled", "valid")


def _check_cnn(cnn: str) -> None:
    if cnn not in CNN_KINDS:
        raise ValueError(f"unknown cnn {cnn!r}; valid: {', '.join(CNN_KINDS)}")


def _check_obs_spec(obs_spec: ObsSpec) -> None:
    unknown = set(obs_spec) - {IMAGE_KEY, VECTOR_KEY}
    if unknown or not obs_spec:
        raise ValueError(f"observation keys {sorted(obs_spec)} not supported; valid: image, vector")


class Encoder(nn.Module):
    """Observation dict -> embedding [..., out_dim] (any leading dims)."""

    def __init__(
        self,
        obs_spec: ObsSpec,
        units: int,
        layers: int,
        cnn_depth: int,
        symlog_inputs: bool = True,
        norm: str = "layer",
        act: str = "silu",
        cnn: str = "strided",
        cnn_act: str | None = None,
    ):
        """`cnn_act`: the CNN's activation (None: `act`; V1: relu)."""
        super().__init__()
        _check_obs_spec(obs_spec)
        _check_cnn(cnn)
        self.symlog_inputs = symlog_inputs
        self.out_dim = 0
        self.cnn: ConvEncoder | PooledConvEncoder | ValidConvEncoder | None = None
        self.mlp: nn.Module | None = None
        if IMAGE_KEY in obs_spec:
            h, w, c = obs_spec[IMAGE_KEY].shape
            if cnn == "valid":
                self.cnn = ValidConvEncoder((h, w, c), cnn_depth, act=cnn_act or act)
            elif cnn == "pooled":
                self.cnn = PooledConvEncoder((h, w, c), cnn_depth, norm=norm, act=act)
            else:
                self.cnn = ConvEncoder((h, w, c), depth=cnn_depth, norm=norm, act=act)
            self.out_dim += self.cnn.out_dim
        if VECTOR_KEY in obs_spec:
            self.mlp = mlp(obs_spec[VECTOR_KEY].shape[0], None, units, layers, norm, act)
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
        norm: str = "layer",
        act: str = "silu",
        cnn: str = "strided",
        deter_dim: int = 0,
        cnn_units: int | None = None,
        cnn_act: str | None = None,
    ):
        """`cnn="pooled"` needs `deter_dim` (the features are [deter, stoch]) and uses
        `cnn_units` (default `units`) for its stochastic-path MLP; `cnn_act` as the encoder's."""
        super().__init__()
        _check_obs_spec(obs_spec)
        _check_cnn(cnn)
        self.symlog_inputs = symlog_inputs
        self.cnn: ConvDecoder | UpsampleConvDecoder | ValidConvDecoder | None = None
        self.mlp: nn.Module | None = None
        if IMAGE_KEY in obs_spec:
            h, w, c = obs_spec[IMAGE_KEY].shape
            if cnn == "valid":
                self.cnn = ValidConvDecoder(feat_dim, (h, w, c), cnn_depth, act=cnn_act or act)
            elif cnn == "pooled":
                self.cnn = UpsampleConvDecoder(
                    deter_dim,
                    feat_dim - deter_dim,
                    (h, w, c),
                    cnn_depth,
                    cnn_units or units,
                    norm=norm,
                    act=act,
                )
            else:
                self.cnn = ConvDecoder(feat_dim, (h, w, c), depth=cnn_depth, norm=norm, act=act)
        if VECTOR_KEY in obs_spec:
            self.mlp = mlp(feat_dim, obs_spec[VECTOR_KEY].shape[0], units, layers, norm, act)

    def forward(self, feat: torch.Tensor) -> dict[str, MSEDist]:
        out = {}
        if self.cnn is not None:
            out[IMAGE_KEY] = MSEDist(self.cnn(feat), dims=3)  # mean [..., C, H, W]
        if self.mlp is not None:
            out[VECTOR_KEY] = MSEDist(self.mlp(feat), dims=1, use_symlog=self.symlog_inputs)
        return out


class DistHead(nn.Module):
    """Features -> a scalar distribution: "twohot" (two-hot over `bins` bins in `bins_space`, see
    `twohot_bins`), "mse" or "bernoulli". `zero_init` zeroes the output layer (DreamerV3
    reward/value: predict 0 first); `outscale` scales it at `models.init.initialize` time."""

    bins: torch.Tensor

    def __init__(
        self,
        feat_dim: int,
        kind: str,
        units: int,
        layers: int,
        bins: int = 255,
        zero_init: bool = False,
        norm: str = "layer",
        act: str = "silu",
        outscale: float | None = None,
        bins_space: str = "symlog",
    ):
        super().__init__()
        if kind not in HEAD_KINDS:
            raise ValueError(f"unknown head kind {kind!r}; valid: {', '.join(HEAD_KINDS)}")
        self.kind, self.bins_space = kind, bins_space
        self.net = mlp(feat_dim, bins if kind == "twohot" else 1, units, layers, norm, act)
        out = self.net[-1]
        assert isinstance(out, nn.Linear)
        if kind == "twohot":  # 255 bins: a padded GEMM (the same parameters)
            out = PaddedLinear(out.in_features, out.out_features)
            self.net[-1] = out
        if zero_init:
            nn.init.zeros_(out.weight)
            nn.init.zeros_(out.bias)
        scale = 0.0 if zero_init else outscale
        if scale is not None:
            set_outscale(out, scale)
        self.register_buffer("bins", twohot_bins(bins, space=bins_space), persistent=False)

    def forward(self, feat: torch.Tensor) -> TwoHot | MSEDist | Bernoulli:
        out = self.net(feat)
        if self.kind == "twohot":
            return TwoHot(out, self.bins, self.bins_space)
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
        norm: str = "layer",
        act: str = "silu",
        outscale: float | None = None,
    ):
        super().__init__()
        if dist not in POLICY_DISTS:
            raise ValueError(f"unknown actor dist {dist!r}; valid: {', '.join(POLICY_DISTS)}")
        if dist == "auto":
            dist = "bounded_normal"
        # `dist` names the continuous actions' distribution; discrete actions always get the
        # one-hot categorical (the releases' policy_dist_disc / policy_dist_cont pair)
        if act_spec.discrete:
            dist = "onehot"
        if dist == "onehot" and not act_spec.discrete:
            raise ValueError(
                f"actor dist {dist!r} does not fit a "
                f"{'discrete' if act_spec.discrete else 'continuous'} action space"
            )
        self.dist, self.unimix = dist, unimix
        # V2 and V3 give the mean and the std their own output layers (DistLayer out/std,
        # Head.bounded_normal mean/stddev): separate tensors for the per-tensor AGC; V1's
        # ActionDecoder and the discrete logits are one layer.
        self.split = dist in ("bounded_normal", "trunc_normal")
        a = act_spec.dim
        if self.split:
            self.net = mlp(feat_dim, None, units, layers, norm, act)
            width = units if layers else feat_dim
            self.mean, self.std = nn.Linear(width, a), nn.Linear(width, a)
            outs: list[nn.Module] = [self.mean, self.std]
        else:
            self.net = mlp(feat_dim, a * (1 if act_spec.discrete else 2), units, layers, norm, act)
            outs = [self.net[-1]]
        if outscale is not None:  # current release: 0.01 (dreamerv3/configs.yaml `policy`)
            for layer in outs:
                set_outscale(layer, outscale)

    def forward(self, feat: torch.Tensor) -> OneHotST | BoundedNormal | TanhNormal | TruncNormal:
        out = self.net(feat)
        if self.split:
            out = torch.cat([self.mean(out), self.std(out)], -1)
        if self.dist == "onehot":
            return OneHotST(unimix_logits(out, self.unimix))
        if self.dist == "bounded_normal":
            return BoundedNormal(out)
        if self.dist == "trunc_normal":
            return TruncNormal(out)
        return TanhNormal(out)
