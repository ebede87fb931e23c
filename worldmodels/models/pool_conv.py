"""The current DreamerV3 release's image encoder and decoder (dreamerv3/rssm.py `Encoder`, lines
179-250, and `Decoder`, lines 253-359, with the defaults `kernel: 5, strided: False, outer: False,
bspace: 8, mults: [2, 3, 4, 4]` of dreamerv3/configs.yaml `enc.simple` / `dec.simple`).

Encoder: per stage a 5x5 "same" convolution, a 2x2 max-pool, a channel norm and the activation;
stage widths depth * mults. Decoder: the features' deterministic part goes through a block-diagonal
linear layer (`bspace` blocks) and the stochastic part through a two-layer MLP, both to the
smallest map; their sum is normalized, then per stage a 2x nearest upsampling and a 5x5 convolution
(+ norm + activation), and a last upsampling and 5x5 convolution to the image channels, squashed by
a sigmoid.

The source always runs 4 stages (64x64 -> 4x4) and asserts the smallest map is 3..16 pixels; here
the number of stages is min(len(mults), log2(side) - 2), so 64x64 images take the source's 4 stages
and the 16x16 test images 2 (the first two widths).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from worldmodels.models.init import set_outscale
from worldmodels.models.nets import (
    BlockLinear,
    ChannelLayerNorm,
    act_factory,
    dense,
    image_to_float,
)


def _stages(side: int, mults: tuple[int, ...]) -> int:
    if side < 8 or side & (side - 1):
        raise ValueError(f"image side must be a power of two >= 8, got {side}")
    return min(len(mults), int(math.log2(side)) - 2)


class PooledConvEncoder(nn.Module):
    """uint8 [..., H, W, C] -> features [..., out_dim] (see the module docstring)."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        depth: int = 64,
        mults: tuple[int, ...] = (2, 3, 4, 4),
        kernel: int = 5,
        norm: str = "rms",
        act: str = "silu",
    ):
        super().__init__()
        h, w, c = image_shape
        if h != w:
            raise ValueError(f"image must be square, got {h}x{w}")
        n = _stages(h, tuple(mults))
        self.depths = [depth * m for m in mults[:n]]
        convs, norms = [], []
        ch = c
        for out in self.depths:
            convs.append(nn.Conv2d(ch, out, kernel, padding=kernel // 2))
            norms.append(ChannelLayerNorm(out, norm=norm))
            ch = out
        self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)
        self.act = act_factory(act)()
        self.out_dim = ch * (h >> n) ** 2

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        lead = image.shape[:-3]
        x = image_to_float(image).reshape(-1, image.shape[-1], *image.shape[-3:-1])  # [N, C, H, W]
        for conv, norm in zip(self.convs, self.norms):
            x = self.act(norm(F.max_pool2d(conv(x), 2)))
        return x.reshape(*lead, self.out_dim)


class UpsampleConvDecoder(nn.Module):
    """Features [..., deter + stoch] -> image mean [..., C, H, W] in [-0.5, 0.5] units (the
    source's sigmoid output in [0, 1], shifted so the loss matches the target convention of
    `image_to_float`; squared errors are the same)."""

    def __init__(
        self,
        deter_dim: int,
        stoch_dim: int,
        image_shape: tuple[int, int, int],
        depth: int = 64,
        units: int = 1024,
        mults: tuple[int, ...] = (2, 3, 4, 4),
        kernel: int = 5,
        bspace: int = 8,
        norm: str = "rms",
        act: str = "silu",
    ):
        super().__init__()
        h, w, c = image_shape
        n = _stages(h, tuple(mults))
        self.depths = [depth * m for m in mults[:n]]
        self.deter_dim, self.stoch_dim = deter_dim, stoch_dim
        self.minres, self.channels, self.bspace = h >> n, self.depths[-1], bspace
        space = self.minres**2 * self.channels
        # sp0: deter -> map, block-diagonal (the source's `bspace` groups); absent without deter
        self.sp0 = BlockLinear(deter_dim, space, bspace) if deter_dim else None
        self.sp1 = dense(stoch_dim, 2 * units, norm, act)
        self.sp2 = nn.Linear(2 * units, space)
        self.spnorm = ChannelLayerNorm(self.channels, norm=norm)
        self.act = act_factory(act)()
        convs, norms = [], []
        ch = self.channels
        for out in reversed(self.depths[:-1]):
            convs.append(nn.Conv2d(ch, out, kernel, padding=kernel // 2))
            norms.append(ChannelLayerNorm(out, norm=norm))
            ch = out
        self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)
        self.out = set_outscale(nn.Conv2d(ch, c, kernel, padding=kernel // 2), 1.0)
        self.image_shape = image_shape

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        lead = feat.shape[:-1]
        feat = feat.reshape(-1, feat.shape[-1])  # [N, D + Z] (deter first, as RSSM.feat)
        r, ch, g = self.minres, self.channels, self.bspace
        stoch = feat[:, self.deter_dim :]
        x = self.sp2(self.sp1(stoch)).reshape(-1, r, r, ch).permute(0, 3, 1, 2)  # [N, C, r, r]
        if self.sp0 is not None:
            x0 = self.sp0(feat[:, : self.deter_dim])  # [N, (g h w c)]
            # '(g h w c) -> (g c) h w': each block owns a contiguous slice of the channels
            x0 = x0.reshape(-1, g, r, r, ch // g).permute(0, 1, 4, 2, 3).reshape(-1, ch, r, r)
            x = x + x0
        x = self.act(self.spnorm(x))
        for conv, norm in zip(self.convs, self.norms):
            x = self.act(norm(conv(F.interpolate(x, scale_factor=2, mode="nearest"))))
        x = torch.sigmoid(self.out(F.interpolate(x, scale_factor=2, mode="nearest"))) - 0.5
        return x.reshape(*lead, *x.shape[1:])
