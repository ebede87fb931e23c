"""DreamerV1's and DreamerV2's image encoder and decoder for 64x64 images ("valid" padding).

Encoder (dreamer/models.py `ConvEncoder`, lines 84-98; dreamerv2/common/nets.py `Encoder._cnn`,
lines 216-224): four 4x4 stride-2 convolutions without padding, widths depth * (1, 2, 4, 8), each
followed by the activation (V1: ReLU, V2: ELU), no normalization: 64 -> 31 -> 14 -> 6 -> 2, so the
embedding is 2 x 2 x 8 depth.
Decoder (dreamer/models.py `ConvDecoder`, lines 101-117; dreamerv2 `Decoder._cnn`, lines
263-277): a linear layer to 32 * depth values seen as a 1x1 map, then transposed convolutions with
kernels 5, 5, 6, 6 and stride 2 (widths 4, 2, 1 depth and the image channels): 1 -> 5 -> 13 -> 30
-> 64; the activation after all but the last.
"""

from __future__ import annotations

import torch
from torch import nn

from worldmodels.models.nets import act_factory, image_to_float


def _check_64(image_shape: tuple[int, int, int], what: str) -> None:
    if tuple(image_shape[:2]) != (64, 64):
        raise ValueError(
            f"{what}: cnn=valid is DreamerV1/V2's 64x64 CNN, got {image_shape[0]}x"
            f"{image_shape[1]} images; use env.image_size=64 or cnn=strided"
        )


class ValidConvEncoder(nn.Module):
    """uint8 [..., 64, 64, C] -> features [..., 32 * depth]."""

    def __init__(self, image_shape: tuple[int, int, int], depth: int = 32, act: str = "relu"):
        super().__init__()
        _check_64(image_shape, "encoder")
        mods: list[nn.Module] = []
        ch = image_shape[2]
        for mult in (1, 2, 4, 8):
            mods += [nn.Conv2d(ch, mult * depth, 4, stride=2), act_factory(act)()]
            ch = mult * depth
        self.net = nn.Sequential(*mods)
        self.out_dim = ch * 2 * 2

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        lead = image.shape[:-3]
        x = image_to_float(image).reshape(-1, image.shape[-1], *image.shape[-3:-1])
        return self.net(x).reshape(*lead, self.out_dim)


class ValidConvDecoder(nn.Module):
    """Features [..., F] -> image mean [..., C, 64, 64] in [-0.5, 0.5] units."""

    def __init__(
        self, in_dim: int, image_shape: tuple[int, int, int], depth: int = 32, act: str = "relu"
    ):
        super().__init__()
        _check_64(image_shape, "decoder")
        self.start = 32 * depth
        self.linear = nn.Linear(in_dim, self.start)
        widths = (4 * depth, 2 * depth, depth, image_shape[2])
        mods: list[nn.Module] = []
        ch = self.start
        for i, (kernel, out) in enumerate(zip((5, 5, 6, 6), widths)):
            mods.append(nn.ConvTranspose2d(ch, out, kernel, stride=2))
            if i < 3:
                mods.append(act_factory(act)())
            ch = out
        self.net = nn.Sequential(*mods)
        self.image_shape = image_shape

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        lead = feat.shape[:-1]
        x = self.net(self.linear(feat).reshape(-1, self.start, 1, 1))  # [N, C, 64, 64]
        return x.reshape(*lead, *x.shape[1:])
