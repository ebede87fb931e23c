"""Diagnostic (issue 11, the KL / reconstruction gap): runs worldmodels.train with the vector
decoder's output layer split into one linear layer per observation key, as the official
decoder's DictHead has (dreamerv3/rssm.py lines 294-303, embodied/jax/heads.py DictHead), so the
per-tensor AGC clips each key's layer on its own. VECTOR_PARTS gives the keys' sizes in our
(sorted) key order, e.g. reacher_easy: position 2, to_target 2, velocity 2 -> "2,2,2".

    VECTOR_PARTS=2,2,2 python diag_vector_parts.py preset=dreamer_v3 env=dmc_proprio ...

Same parameter count and the same init rule (truncated normal, fan-in: the split does not change
any layer's fan-in); only where the AGC draws tensor boundaries differs.
"""

import os

import torch
from torch import nn

import worldmodels.models.heads as heads

PARTS = [int(p) for p in os.environ["VECTOR_PARTS"].split(",")]


class SplitLinear(nn.Module):
    """One nn.Linear per part, outputs concatenated: [..., I] -> [..., sum(parts)]."""

    def __init__(self, inp: int, parts: list[int]):
        super().__init__()
        self.parts = nn.ModuleList(nn.Linear(inp, p) for p in parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([layer(x) for layer in self.parts], -1)


_init = heads.Decoder.__init__


def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    _init(self, *args, **kwargs)
    if self.mlp is not None:
        last = self.mlp[-1]
        assert isinstance(last, nn.Linear) and last.out_features == sum(PARTS), (last, PARTS)
        self.mlp[-1] = SplitLinear(last.in_features, PARTS)
        print(f"diag: vector decoder output split into {PARTS}", flush=True)


heads.Decoder.__init__ = init

from worldmodels.train import cli  # noqa: E402 (after the patch above, so the decoder uses it)

cli()
