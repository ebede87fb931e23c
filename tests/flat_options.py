"""Test helper: build Dreamer / planner agents from one flat dict of options, as the tests wrote
them before the world model got its own config node. The keys the RSSM takes go to
`world_model` (`_target_` the RSSM), the rest to the agent; the network keys both use (widths,
norm, activation, init, two-hot bins, compile) go to both, as configs/agent/dreamer.yaml does.
`contdisc=True` sets the world model's cont_discount to gamma, as preset=dreamer_v3 does."""

from __future__ import annotations

import inspect
from typing import Any

from worldmodels.agents.dreamer import DreamerAgent, DreamerConfig
from worldmodels.agents.planners import PlannerAgent
from worldmodels.models.world_model import WorldModel

RSSM = "worldmodels.models.world_model.WorldModel"
RSSM_KEYS = set(inspect.signature(WorldModel).parameters) - {"obs_spec", "act_spec"}
SHARED = {"units", "layers", "norm", "act", "winit", "bins", "bins_space", "compile"}


def split(flat: dict[str, Any], agent_keys: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(world-model config node, agent options) of flat options."""
    wm = {"_target_": RSSM, **{k: v for k, v in flat.items() if k in RSSM_KEYS}}
    agent = {k: v for k, v in flat.items() if k not in RSSM_KEYS or k in SHARED & agent_keys}
    return wm, agent


def dreamer_agent(obs_spec, act_spec, device="cpu", **flat: Any) -> DreamerAgent:
    wm, agent = split(flat, set(DreamerConfig.__dataclass_fields__))
    if agent.get("contdisc"):
        wm["cont_discount"] = agent.get("gamma", DreamerConfig.gamma)
    return DreamerAgent(obs_spec, act_spec, device, world_model=wm, **agent)


def planner_agent(obs_spec, act_spec, device="cpu", world_model=None, **flat: Any) -> PlannerAgent:
    if world_model is not None:
        return PlannerAgent(obs_spec, act_spec, device, world_model=world_model, **flat)
    wm, agent = split(flat, {"compile"})
    return PlannerAgent(obs_spec, act_spec, device, world_model=wm, **agent)
