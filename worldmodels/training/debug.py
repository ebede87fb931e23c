"""`trainer=debug` wins over recipes and shrinks the agent, whatever it is.

Hydra merges `+experiment=...` (appended to the defaults list) after every group, so a recipe's
`trainer.steps: 1_000_000` and `override /size: s` would silently beat `trainer=debug` (a "debug"
run of a million frames with debug clocks: thousands of checkpoints). No place in the defaults
list comes after an appended config, so this step runs on the composed config instead: when the
command selects `trainer=debug`, the debug clocks (configs/trainer/debug.yaml), size xs
(configs/size/xs.yaml), eager execution (no torch.compile) and the small planner budget below
are applied again on top, except for
the keys the command line itself sets (`trainer=debug trainer.steps=320` keeps 320, `size=s`
keeps S, `agent.candidates=100` keeps 100).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
#: The most a debug run's planner (CEM, MPPI, random shooting) searches per action (each key is
#: capped, never raised: random shooting keeps its one iteration). PlaNet's budget (12 x 1000 x 10)
#: made a debug agent=mppi run take 216 s on a CPU; this one takes a fraction of that.
DEBUG_PLANNER = {"horizon": 4, "candidates": 64, "iterations": 2, "elites": 8}


def selects_debug(overrides: list[str] | None) -> bool:
    """Whether the command line picks trainer=debug."""
    return any(
        _key(o) == "trainer" and o.split("=", 1)[1].strip() == "debug" for o in overrides or []
    )


def _key(override: str) -> str:
    return re.sub(r"^[+~]+", "", override.split("=", 1)[0]).strip()


def apply_debug(cfg: DictConfig, overrides: list[str] | None) -> DictConfig:
    """`cfg` with the debug clocks, size xs and the debug planner budget applied over whatever
    a recipe or preset set, when `overrides` select trainer=debug; keys the overrides set
    themselves are kept. Otherwise `cfg` unchanged."""
    if not selects_debug(overrides):
        return cfg
    given = {_key(o) for o in overrides or []}
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    assert isinstance(out, DictConfig)
    trainer = _group_file("trainer", "debug")
    for key, value in trainer.items():
        if f"trainer.{key}" not in given:
            out.trainer[key] = value
    if not any(k == "size" or k.startswith(("size.", "size@")) for k in given):
        for key, value in _group_file("size", "xs").items():
            out.size[key] = value
    agent = out.agent
    # torch.compile (a recipe's CPU speed switch) costs more than a whole debug run's updates
    for node, key in (
        (agent, "agent.compile"),
        (agent.get("world_model"), "agent.world_model.compile"),
    ):
        if isinstance(node, DictConfig) and node.get("compile") and key not in given:
            node.compile = False
    if "candidates" in agent:  # a planner
        for key, cap in {**DEBUG_PLANNER, "actor_candidates": DEBUG_PLANNER["elites"]}.items():
            if key in agent and f"agent.{key}" not in given:
                agent[key] = min(int(agent[key]), cap)
    return out


def _group_file(group: str, option: str) -> dict[str, Any]:
    """The keys of configs/<group>/<option>.yaml (its defaults list left out)."""
    values = OmegaConf.to_container(OmegaConf.load(CONFIGS / group / f"{option}.yaml"))
    assert isinstance(values, dict)
    return {str(k): v for k, v in values.items() if k != "defaults"}
