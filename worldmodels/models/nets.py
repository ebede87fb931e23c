"""Network building blocks shared by every head: MLP, CNN image encoder/decoder, image scaling.

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


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of [N, C, H, W] maps (as DreamerV3 normalizes conv features)."""

    def __init__(self, channels: int, eps: float = 1e-3):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def mlp(
    in_dim: int,
    out_dim: int | None,
    units: int,
    layers: int,
    norm: bool = True,
    act: Callable[[], nn.Module] = nn.SiLU,
) -> nn.Sequential:
    """`layers` hidden layers of `units` (Linear -> LayerNorm -> act), then a Linear to `out_dim`
    (no output layer when `out_dim` is None: the result ends with the last hidden activation)."""
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers):
        mods.append(nn.Linear(dim, units, bias=not norm))
        if norm:
            mods.append(nn.LayerNorm(units, eps=1e-3))
        mods.append(act())
        dim = units
    if out_dim is not None:
        mods.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*mods)


class ConvEncoder(nn.Module):
    """Stride-2 4x4 convolutions (DreamerV3): [..., H, W, C] uint8 -> [..., out_dim] features.

    Channels double each stage from `depth`; stages continue until the map is 4x4 (64x64 -> 4
    stages, 32x32 -> 3, 16x16 -> 2).
    """

    def __init__(self, image_shape: tuple[int, int, int], depth: int = 32, norm: bool = True):
        super().__init__()
        h, w, c = image_shape
        if h != w or h < 8 or (h & (h - 1)) != 0:
            raise ValueError(f"image must be square with a power-of-two side >= 8, got {h}x{w}")
        stages = int(math.log2(h)) - 2
        mods: list[nn.Module] = []
        ch_in, ch = c, depth
        for _ in range(stages):
            mods.append(nn.Conv2d(ch_in, ch, 4, stride=2, padding=1, bias=not norm))
            if norm:
                mods.append(ChannelLayerNorm(ch))
            mods.append(nn.SiLU())
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
        self, in_dim: int, image_shape: tuple[int, int, int], depth: int = 32, norm: bool = True
    ):
        super().__init__()
        h, w, c = image_shape
        stages = int(math.log2(h)) - 2
        ch = depth * 2 ** (stages - 1)
        self.start_channels = ch
        self.linear = nn.Linear(in_dim, ch * 4 * 4)
        mods: list[nn.Module] = []
        for i in range(stages):
            last = i == stages - 1
            out = c if last else ch // 2
            mods.append(nn.ConvTranspose2d(ch, out, 4, stride=2, padding=1, bias=last or not norm))
            if not last:
                if norm:
                    mods.append(ChannelLayerNorm(out))
                mods.append(nn.SiLU())
            ch = out
        self.net = nn.Sequential(*mods)
        self.image_shape = image_shape

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        lead = feat.shape[:-1]
        x = self.linear(feat).reshape(-1, self.start_channels, 4, 4)
        x = self.net(x)  # [N, C, H, W]
        return x.reshape(*lead, *x.shape[1:])
