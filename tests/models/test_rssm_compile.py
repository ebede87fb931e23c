"""The RSSM per-step cells compile as one graph (issue 15): `torch.compile(fullgraph=True)` raises
on any graph break. Every core (gru, block, classic), both cells, tiny sizes, outputs equal to
eager. Dynamo with the eager backend finds graph breaks in well under a second; one cell also goes
through inductor (skipped where no C++ compiler is available)."""

from __future__ import annotations

import shutil

import pytest
import torch

from worldmodels.models.rssm import CORES, RSSM


def _cells(core: str):
    torch.manual_seed(0)
    rssm = RSSM(
        8,
        2,
        deter=16,
        stoch=4,
        classes=4,
        hidden=16,
        core=core,
        gru_blocks=8 if core == "block" else 1,
    )
    b = 3
    d, s, e = torch.randn(b, 16), torch.randn(b, 16), torch.randn(b, 16)
    a, keep = torch.randn(b, 2) * 2, torch.tensor([[1.0], [0.0], [1.0]])
    return {
        "img": (rssm._img_cell_eager, (d, s, a)),
        "obs": (rssm._obs_cell_eager, (d, s, a, e, keep, d, s, False)),
    }


def _check(fn, args, backend: str) -> None:
    compiled = torch.compile(fn, fullgraph=True, backend=backend, dynamic=False)
    torch.manual_seed(1)
    out = compiled(*args)
    torch.manual_seed(1)
    ref = fn(*args)
    for x, y in zip(out, ref, strict=True):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("cell", ["img", "obs"])
@pytest.mark.parametrize("core", CORES)
def test_rssm_cell_compiles_without_graph_breaks(core, cell):
    torch._dynamo.reset()
    fn, args = _cells(core)[cell]
    _check(fn, args, "eager")


@pytest.mark.skipif(
    shutil.which("c++") is None and shutil.which("g++") is None,
    reason="inductor's CPU backend needs a C++ compiler",
)
def test_rssm_obs_cell_compiles_with_inductor():
    torch._dynamo.reset()
    fn, args = _cells("block")["obs"]
    _check(fn, args, "inductor")
