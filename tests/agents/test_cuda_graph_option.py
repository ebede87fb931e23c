"""`agent.cuda_graph` (agents/graphed_update.py): on CPU it is refused with a one-line error that
names the key and the valid setting, and the default (off) update is the same as before the
option existed: eager, with the replay writeback of the current release intact. The capture
itself needs CUDA (measured on the lent GPU: benchmarks/RESULTS.md)."""

from __future__ import annotations

import pytest
import torch

from tests.agents.test_dreamer_release import ACT, CURRENT, OBS, XS, batch_for
from tests.flat_options import dreamer_agent


def test_cuda_graph_on_cpu_is_refused_with_the_key():
    with pytest.raises(ValueError, match=r"agent\.cuda_graph=true .* needs device=cuda.*cpu"):
        dreamer_agent(OBS, ACT, "cpu", **dict(CURRENT, cuda_graph=True))


def test_update_returns_metrics_and_keeps_the_writeback_apart():
    torch.manual_seed(0)
    agent = dreamer_agent(OBS, ACT, "cpu", **CURRENT)
    batch = batch_for(agent)
    metrics = agent.update(batch)
    assert not any(k.startswith("writeback/") for k in metrics)
    wb = agent.replay_writeback()
    assert wb is not None and set(wb) == set(agent.data.extras)
    b, t = batch["is_first"].shape
    for k, v in wb.items():  # the T rows after the context rows, per sequence
        assert v.shape[:2] == (b, t - agent.cfg.replay_context), k
    assert agent.replay_writeback() is None  # taken once


def test_capturable_laprop_update_makes_no_host_sync():
    """The optimizer path a captured current-release update takes (LaProp's device counter) adds
    no host read to the update: a sync inside a capture is an error on CUDA."""
    from tests.agents.test_dreamer_no_sync import no_host_sync

    torch.manual_seed(0)
    agent = dreamer_agent(OBS, ACT, "cpu", **CURRENT)
    assert agent.opt is not None
    for group in agent.opt.param_groups:
        group["capturable"] = True
    batch = batch_for(agent)
    agent.update(batch)  # creates the device counter (one host-to-device copy, before capture)
    with no_host_sync():
        metrics = agent.update(batch)
    assert agent.opt.param_groups[0]["step"] == 2
    assert metrics["agent/lr"].item() == pytest.approx(agent.opt.scheduled_lr())


def _params(agent) -> torch.Tensor:
    mods = (agent.world_model, agent.actor, agent.critic)
    return torch.cat([p.detach().float().reshape(-1) for m in mods for p in m.parameters()])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA-graph capture needs a CUDA device")
@pytest.mark.parametrize("preset", ["default_2023", "dreamer_v3"])
def test_graphed_update_follows_the_eager_one_on_cuda(preset):
    """Ten updates of one batch, eager and graphed (3 eager, a capture, 6 replays), from the
    same initial weights: every replay moves the weights, the two runs end close (within a
    tenth of how far they moved: a graph that replayed stale optimizer factors or no update
    would be off by most of it), the counters and the logged learning rate agree, and the
    replay writeback is fresh after every replay."""
    kw = dict(CURRENT) if preset == "dreamer_v3" else dict(XS, batch_size=3, batch_length=6)
    kw["horizon"] = 4
    runs = {}
    for graph in (False, True):
        torch.manual_seed(0)
        agent = dreamer_agent(OBS, ACT, "cuda", **dict(kw, cuda_graph=graph))
        batch = {k: v.cuda() for k, v in batch_for(agent).items()}
        start = _params(agent)
        moved, lrs, writebacks = [], [], []
        for _ in range(10):
            before = _params(agent)
            metrics = agent.update(batch)
            moved.append((_params(agent) - before).abs().max().item())
            lrs.append(metrics["agent/lr"].item() if "agent/lr" in metrics else 0.0)
            wb = agent.replay_writeback()  # a checksum per update: a stale graph output repeats
            check = None if wb is None else sum(v.double().sum().item() for v in wb.values())
            writebacks.append(check)
            assert all(torch.isfinite(v).all() for v in metrics.values())
        runs[graph] = (start, _params(agent), moved, lrs, writebacks, agent._updates)
    (s0, e0, _, lr0, wb0, n0), (s1, e1, m1, lr1, wb1, n1) = runs[False], runs[True]
    assert torch.equal(s0, s1)
    assert min(m1[3:]) > 0, "a replay left the weights unchanged"
    travel = (e0 - s0).norm()
    assert (e1 - e0).norm() < 0.1 * travel, ((e1 - e0).norm().item(), travel.item())
    assert n0 == n1 == 10 and lr1 == pytest.approx(lr0, rel=1e-5)
    assert (wb0[0] is None) == (wb1[0] is None)  # a writeback iff the preset has replay context
    if wb1[0] is not None:  # every replay wrote its own posteriors (weights moved: they change)
        assert all(a != b for a, b in zip(wb1[3:], wb1[4:])), wb1


@pytest.mark.parametrize("flag", ["compile", "world_model.compile"])
def test_cuda_graph_with_compiled_cells_is_refused(flag):
    """Capture of the compiled cells failed on the GPU (torch 2.11, H200): refused up front with
    the keys, not an obscure capture error minutes into a run."""
    from tests.flat_options import split
    from worldmodels.agents.dreamer import DreamerAgent, DreamerConfig

    wm, agent = split(dict(CURRENT), set(DreamerConfig.__dataclass_fields__))
    wm["cont_discount"] = agent.get("gamma", DreamerConfig.gamma)
    if flag == "compile":
        agent["compile"] = True
    else:
        wm["compile"] = True
    with pytest.raises(ValueError, match=r"agent\.cuda_graph=true with agent\.compile"):
        DreamerAgent(OBS, ACT, "cpu", world_model=wm, cuda_graph=True, **agent)


def test_checkpoint_of_a_graphed_run_loads_into_an_eager_one():
    """A checkpoint saved with capturable optimizers (a cuda_graph run on a GPU) resumes on a
    CPU: the flag follows the loading run's setting, not the saved one (capturable steps are
    the device-counter paths, slower where nothing is captured)."""
    torch.manual_seed(0)
    agent = dreamer_agent(OBS, ACT, "cpu", **dict(XS, batch_size=3, batch_length=6, horizon=3))
    batch = batch_for(agent)
    agent.update(batch)
    state = agent.state_dict()
    for name in ("model_opt", "actor_opt", "critic_opt"):
        for group in state[name]["param_groups"]:
            group["capturable"] = True  # as a graphed run saves them
    fresh = dreamer_agent(OBS, ACT, "cpu", **dict(XS, batch_size=3, batch_length=6, horizon=3))
    fresh.load_state_dict(state)
    assert not any(g["capturable"] for o in fresh._optimizers().values() for g in o.param_groups)
    metrics = fresh.update(batch)
    assert all(torch.isfinite(v) for v in metrics.values())
