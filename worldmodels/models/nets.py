"""Network building blocks shared by every head: MLP, CNN image encoder/decoder, norms,
activations, block-diagonal linear layers, image scaling.

Normalization kinds (`norm`): "layer" (LayerNorm, eps 1e-3: DreamerV3's 2023 release), "rms"
(RMSNorm with a learned scale, eps 1e-4: the current release, embodied/jax/nets.py `Norm`), "none"
(DreamerV1/V2). Activations (`act`): "silu" (V3), "elu" (V1/V2), "relu", "tanh".

Conventions: images enter as uint8 [..., H, W, C] and are turned into float [..., C, H, W] in
[-0.5, 0.5] by `image_to_float`; any leading batch dims ([B] or [B, T]) are flattened around the
convolutions and restored afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


def image_to_float(image: torch.Tensor) -> torch.Tensor:
    """uint8 [..., H, W, C] -> float32 [..., C, H, W] in [-0.5, 0.5]."""
    return image.permute(*range(image.dim() - 3), -1, -3, -2).float() / 255.0 - 0.5


NORMS = ("layer", "rms", "none")
ACTS = {"silu": nn.SiLU, "elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh}


def norm_kind(norm: bool | str) -> str:
    """Normalizes the `norm` argument: True -> "layer", False -> "none", or a name in NORMS."""
    kind = {True: "layer", False: "none"}.get(norm, norm) if isinstance(norm, bool) else norm
    if kind not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")
    return str(kind)


def make_norm(norm: bool | str, dim: int) -> nn.Module:
    """The normalization layer over the last dim of size `dim` (Identity for "none")."""
    kind = norm_kind(norm)
    if kind == "layer":
        return nn.LayerNorm(dim, eps=1e-3)
    if kind == "rms":
        # embodied/jax/nets.py Norm(impl="rms"): x * rsqrt(mean(x^2) + 1e-4) * scale, in float32
        return nn.RMSNorm(dim, eps=1e-4)
    return nn.Identity()


def act_factory(act: str | Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    """A module factory for an activation name (or a factory, passed through)."""
    if callable(act):
        return act
    if act not in ACTS:
        raise ValueError(f"unknown activation {act!r}; valid: {', '.join(ACTS)}")
    return ACTS[act]


def dense(inp: int, out: int, norm: bool | str = True, act: str = "silu") -> nn.Sequential:
    """Linear -> norm -> act. The Linear has no bias before a LayerNorm (its shift subsumes it),
    and a bias otherwise (RMSNorm has no shift)."""
    kind = norm_kind(norm)
    return nn.Sequential(
        nn.Linear(inp, out, bias=kind != "layer"), make_norm(kind, out), act_factory(act)()
    )


class ChannelLayerNorm(nn.Module):
    """A norm over the channels of [N, C, H, W] maps (as DreamerV3 normalizes conv features);
    `norm` as in `make_norm` (layer by default)."""

    def __init__(self, channels: int, eps: float = 1e-3, norm: bool | str = "layer"):
        super().__init__()
        kind = norm_kind(norm)
        self.norm = (
            nn.LayerNorm(channels, eps=eps) if kind == "layer" else make_norm(kind, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def mlp(
    in_dim: int,
    out_dim: int | None,
    units: int,
    layers: int,
    norm: bool | str = True,
    act: str | Callable[[], nn.Module] = nn.SiLU,
) -> nn.Sequential:
    """`layers` hidden layers of `units` (Linear -> norm -> act, see `dense`), then a Linear to
    `out_dim` (no output layer when `out_dim` is None: the result ends with the last hidden
    activation)."""
    kind = norm_kind(norm)
    factory = act_factory(act)
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers):
        mods.append(nn.Linear(dim, units, bias=kind != "layer"))
        if kind != "none":
            mods.append(make_norm(kind, units))
        mods.append(factory())
        dim = units
    if out_dim is not None:
        mods.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*mods)


def gate_tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh for the GRU candidate: on CPU as 2 * sigmoid(2x) - 1, the same function, because
    torch's CPU tanh (eager and inductor's) runs at a third of sigmoid's speed: the compiled
    gate math of a [1024, 512] imagination step takes 1.1 ms this way against 2.1 ms (RESULTS.md).
    It differs from tanh by float32 rounding (2e-7 absolute, measured). Elsewhere torch.tanh."""
    if x.device.type == "cpu":
        return 2 * torch.sigmoid(2 * x) - 1
    return torch.tanh(x)


class PaddedLinear(nn.Linear):
    """nn.Linear (same parameters, names and shapes) that multiplies with its output dim padded
    by zero rows to a multiple of `multiple`, then drops the padding: MKL's CPU GEMM at 255 output
    columns (the two-hot heads) runs at under half the rate it reaches at 256 (RESULTS.md); the
    extra column is zeros, so the result equals the plain layer up to summation order."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, multiple: int = 16):
        super().__init__(in_features, out_features, bias=bias)
        self.pad = -out_features % multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.pad:
            return super().forward(x)
        weight = nn.functional.pad(self.weight, (0, 0, 0, self.pad))  # [O + pad, I]
        bias = None if self.bias is None else nn.functional.pad(self.bias, (0, self.pad))
        return nn.functional.linear(x, weight, bias)[..., : self.out_features]


class BlockLinear(nn.Module):
    """Block-diagonal linear layer (embodied/jax/nets.py `BlockLinear`): the input [..., I] is cut
    into `blocks` groups of I/G, each mapped by its own [I/G, O/G] kernel; outputs concatenated to
    [..., O], plus a bias [O]."""

    def __init__(self, inp: int, out: int, blocks: int, bias: bool = True):
        super().__init__()
        if inp % blocks or out % blocks:
            raise ValueError(f"BlockLinear: {inp=} and {out=} must be divisible by {blocks=}")
        self.inp, self.out, self.blocks = inp, out, blocks
        self.weight = nn.Parameter(torch.empty(blocks, inp // blocks, out // blocks))
        self.bias = nn.Parameter(torch.zeros(out)) if bias else None
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead, g = x.shape[:-1], self.blocks
        xb = x.reshape(-1, g, self.inp // g).transpose(0, 1)  # [G, N, I/G]
        y = torch.bmm(xb, self.weight.to(xb.dtype)).transpose(0, 1)  # [N, G, O/G]
        y = y.reshape(*lead, self.out)
        return y if self.bias is None else y + self.bias.to(y.dtype)


class ConvEncoder(nn.Module):
    """Stride-2 4x4 convolutions (DreamerV3): [..., H, W, C] uint8 -> [..., out_dim] features.

    Channels double each stage from `depth`; stages continue until the map is 4x4 (64x64 -> 4
    stages, 32x32 -> 3, 16x16 -> 2).
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        depth: int = 32,
        norm: bool | str = True,
        act: str = "silu",
    ):
        super().__init__()
        kind = norm_kind(norm)
        h, w, c = image_shape
        if h != w or h < 8 or (h & (h - 1)) != 0:
            raise ValueError(f"image must be square with a power-of-two side >= 8, got {h}x{w}")
        stages = int(math.log2(h)) - 2
        mods: list[nn.Module] = []
        ch_in, ch = c, depth
        for _ in range(stages):
            mods.append(nn.Conv2d(ch_in, ch, 4, stride=2, padding=1, bias=kind != "layer"))
            if kind != "none":
                mods.append(ChannelLayerNorm(ch, norm=kind))
            mods.append(act_factory(act)())
            ch_in, ch = ch, ch * 2
        self.net = nn.Sequential(*mods)
        self.out_channels = ch_in
        self.out_dim = ch_in * 4 * 4

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        lead = image.shape[:-3]
        x = image_to_float(image).reshape(
            -1, *image.shape[-1:], *image.shape[-3:-1]
        )  # [N, C, H, W]
        x = self.net(x)  # [N, C', 4, 4]
        return x.reshape(*lead, self.out_dim)


class ConvDecoder(nn.Module):
    """Mirror of ConvEncoder: [..., in_dim] -> image mean [..., C, H, W] (in [-0.5, 0.5] units)."""

    def __init__(
        self,
        in_dim: int,
        image_shape: tuple[int, int, int],
        depth: int = 32,
        norm: bool | str = True,
        act: str = "silu",
    ):
        super().__init__()
        kind = norm_kind(norm)
        h, w, c = image_shape
        stages = int(math.log2(h)) - 2
        ch = depth * 2 ** (stages - 1)
        self.start_channels = ch
        self.linear = nn.Linear(in_dim, ch * 4 * 4)
        mods: list[nn.Module] = []
        for i in range(stages):
            last = i == stages - 1
            out = c if last else ch // 2
            mods.append(
                nn.ConvTranspose2d(ch, out, 4, stride=2, padding=1, bias=last or kind != "layer")
            )
            if not last:
                if kind != "none":
                    mods.append(ChannelLayerNorm(out, norm=kind))
                mods.append(act_factory(act)())
            ch = out
        self.net = nn.Sequential(*mods)
        self.image_shape = image_shape

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        lead = feat.shape[:-1]
        x = self.linear(feat).reshape(-1, self.start_channels, 4, 4)
        x = self.net(x)  # [N, C, H, W]
        return x.reshape(*lead, *x.shape[1:])
