"""Weight initialization schemes of the Dreamer releases, applied to a built module tree.

    initialize(module, "trunc_normal_in")   # the current DreamerV3 release
    initialize(module, "trunc_normal_avg")  # the 2023 DreamerV3 release
    initialize(module, "xavier_uniform")    # DreamerV1/V2 (TensorFlow/Keras glorot_uniform default)
    initialize(module, "torch")             # PyTorch's own defaults (kept as built)

"xavier_uniform" also sets a standard GRU cell (nn.GRUCell, V1) as Keras does: glorot-uniform
input kernel, orthogonal recurrent kernel, zero biases.

Every scheme zeroes the biases of Linear/conv/block layers and leaves norm scales at one. After the
scheme, each layer that carries an `outscale` attribute (set by the heads on their output layer)
has its weight multiplied by it: DreamerV3's output scales (policy 0.01, reward and value 0, which
makes those heads predict exactly 0 at the start).

Truncated normal (both DreamerV3 releases): samples of N(0, 1) truncated to [-2, 2], times
1.1368 * sqrt(1 / fan) (the truncated standard normal has std 0.8796, so the result has std
sqrt(1 / fan)). Sources: current release embodied/jax/nets.py `Initializer` (lines 144-197,
`trunc_normal`: `x *= 1.1368 * np.sqrt(1 / fan)`); 2023 release dreamerv3/nets.py `Initializer`
(lines 640-690, `normal`: `std = np.sqrt(scale) / 0.87962566103423978`, fan "avg").

Fans follow the JAX kernel layouts of the sources (`compute_fans`): a Linear [in, out] has
(in, out); a conv kernel HWIO has (k*k*in, k*k*out); a block-diagonal kernel [G, I/G, O/G] has
(I, O): the whole input size, not the I/G a block sees (kept as the source computes it).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from worldmodels.models.nets import BlockLinear

SCHEMES = ("torch", "trunc_normal_in", "trunc_normal_avg", "xavier_uniform")
#: 1 / std of the standard normal truncated to [-2, 2]
TRUNC_NORMAL_CORRECTION = 1.1368


def fans(module: nn.Module) -> tuple[int, int]:
    """(fan_in, fan_out) of a layer's kernel in the sources' convention (module docstring)."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    if isinstance(module, BlockLinear):
        return module.inp, module.out
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        space = math.prod(module.kernel_size)
        return module.in_channels * space, module.out_channels * space
    raise TypeError(f"no fans for {type(module).__name__}")


def _std(module: nn.Module, fan: str) -> float:
    fan_in, fan_out = fans(module)
    denom = {"in": fan_in, "avg": (fan_in + fan_out) / 2}[fan]
    return math.sqrt(1.0 / denom)


def initialize(module: nn.Module, scheme: str = "torch") -> nn.Module:
    """Re-initializes every Linear, conv and block-linear layer under `module` by `scheme`, then
    applies the layers' `outscale` attributes. Returns `module`."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown weight init {scheme!r}; valid: {', '.join(SCHEMES)}")
    layers = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, BlockLinear)
    with torch.no_grad():
        for cell in module.modules():
            if isinstance(cell, nn.GRUCell) and scheme == "xavier_uniform":
                # Keras GRUCell: glorot-uniform kernel [in, 3H], orthogonal recurrent kernel
                limit = math.sqrt(6.0 / (cell.input_size + 3 * cell.hidden_size))
                nn.init.uniform_(cell.weight_ih, -limit, limit)
                # weight_hh [3H, H] is the kernel [H, 3H] transposed: orthonormal rows there
                nn.init.orthogonal_(cell.weight_hh)
                nn.init.zeros_(cell.bias_ih)
                nn.init.zeros_(cell.bias_hh)
        for layer in module.modules():
            if not isinstance(layer, layers):
                continue
            weight = layer.weight
            if scheme.startswith("trunc_normal"):
                std = TRUNC_NORMAL_CORRECTION * _std(layer, scheme.rsplit("_", 1)[1])
                nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)
            elif scheme == "xavier_uniform":
                fan_in, fan_out = fans(layer)
                limit = math.sqrt(6.0 / (fan_in + fan_out))
                nn.init.uniform_(weight, -limit, limit)
            if scheme != "torch" and layer.bias is not None:
                nn.init.zeros_(layer.bias)
            outscale = getattr(layer, "outscale", None)
            if outscale is not None:
                weight.mul_(float(outscale))
                if layer.bias is not None and outscale == 0:
                    nn.init.zeros_(layer.bias)
    return module


def set_outscale(layer: nn.Module, outscale: float) -> nn.Module:
    """Marks `layer` (an output layer) to have its initial weight scaled by `outscale` when
    `initialize` runs; returns it."""
    layer.outscale = float(outscale)  # type: ignore[assignment]
    return layer
