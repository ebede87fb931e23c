"""The Dreamer update makes no host sync (issue 15): one `DreamerAgent.update` at tiny size, for the
2023 default config and the current release's switches, runs under a guard that fails on every
Python-level read of tensor values (.item, .tolist, .cpu, .numpy, bool/float/int/index) and on
every aten op that syncs on CUDA (_local_scalar_dense, nonzero, masked_select, unique, ...).

Allowed: torch.optim's non-fused Adam reads its own step counter, a CPU tensor, with .item() (on
CUDA `make_adam` uses fused Adam, whose step lives on the device and is never read)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from tests.agents.test_dreamer_release import ACT as CURRENT_ACT
from tests.agents.test_dreamer_release import CURRENT, OBS, XS, batch_for
from tests.flat_options import dreamer_agent

T = torch.Tensor
PY_READS = {T.item, T.tolist, T.cpu, T.numpy, T.__bool__, T.__float__, T.__int__, T.__index__}
ATEN_SYNCS = {"_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2", "equal"}


def _in_torch_optim() -> bool:
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        if "/torch/optim/" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


class _PyGuard(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in PY_READS and not _in_torch_optim():
            raise AssertionError(f"host sync in update: Tensor.{func.__name__}")
        return func(*args, **(kwargs or {}))


class _AtenGuard(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in ATEN_SYNCS and not _in_torch_optim():
            raise AssertionError(f"host sync in update: aten.{name}")
        return func(*args, **(kwargs or {}))


@contextmanager
def no_host_sync() -> Iterator[None]:
    """Fails on any host read of tensor values inside the block (see the module docstring)."""
    with _PyGuard(), _AtenGuard():
        yield


def test_guard_catches_item_and_bool():
    x = torch.ones(2)
    with pytest.raises(AssertionError, match="item"), no_host_sync():
        x.sum().item()
    with pytest.raises(AssertionError, match="host sync"), no_host_sync():
        bool(x.sum() > 0)


@pytest.mark.parametrize("preset", ["default_2023", "dreamer_v3"])
def test_dreamer_update_makes_no_host_sync(preset):
    torch.manual_seed(0)
    kw = (
        dict(CURRENT)
        if preset == "dreamer_v3"
        else dict(XS, batch_size=3, batch_length=6, horizon=4)
    )
    agent = dreamer_agent(OBS, CURRENT_ACT, "cpu", **kw)
    batch = batch_for(agent)
    for _ in range(2):  # the first builds optimizer state; both run guarded
        with no_host_sync():
            metrics = agent.update(batch)
    assert all(torch.isfinite(v) for v in metrics.values())


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="torch.cuda.set_sync_debug_mode: CUDA only"
)
def test_dreamer_update_no_sync_cuda_debug_mode():
    torch.manual_seed(0)
    agent = dreamer_agent(OBS, CURRENT_ACT, "cuda", **CURRENT)
    batch = {k: v.cuda() for k, v in batch_for(agent).items()}
    agent.update(batch)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        agent.update(batch)
    finally:
        torch.cuda.set_sync_debug_mode(0)
