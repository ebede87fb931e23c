"""One planner refit iteration (`Planner._iterate_eager`: H imagination steps, scoring, elites,
refit) compiles as one graph (issue 15): torch.compile(fullgraph=True) raises on a graph break.
Tiny sizes, dynamo with the eager backend; outputs equal eager under the same seed."""

from __future__ import annotations

import pytest
import torch

from tests.flat_options import planner_agent
from worldmodels.envs.spaces import ActSpec, ArraySpec

TINY = dict(units=16, layers=1, cnn_depth=4, deter=16, stoch=4, classes=4, hidden=16)


@pytest.mark.parametrize("method", ["cem", "mppi", "random_shooting"])
def test_planner_iteration_compiles_without_graph_breaks(method):
    torch.manual_seed(0)
    obs = {"image": ArraySpec((16, 16, 3), "uint8")}
    agent = planner_agent(
        obs,
        ActSpec(2, False),
        "cpu",
        method=method,
        horizon=3,
        candidates=12,
        iterations=2,
        elites=4,
        **TINY,
    )
    planner, b = agent.planner, 2
    n = planner.cfg.candidates
    start = agent.world_model.initial(b)
    start_n = {k: v.detach().repeat_interleave(n, 0) for k, v in start.items()}
    mean = planner.initial_plan(b, "cpu")
    std = torch.full_like(mean, planner.cfg.init_std)
    fixed = planner._propose(start, b)
    torch._dynamo.reset()
    compiled = torch.compile(planner._iterate_eager, fullgraph=True, backend="eager")
    with torch.no_grad():
        torch.manual_seed(1)
        out = compiled(mean, std, start_n, fixed)
        torch.manual_seed(1)
        ref = planner._iterate_eager(mean, std, start_n, fixed)
    for x, y in zip(out, ref, strict=True):
        torch.testing.assert_close(x, y)
