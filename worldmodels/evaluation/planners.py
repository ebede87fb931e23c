"""Planner agents (CEM, MPPI, random shooting) on a run's world model."""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig

from worldmodels.agents.planners import PLANNER_KEYS, PLANNERS, PlannerAgent
from worldmodels.errors import UserError
from worldmodels.evaluation.runs import LoadedRun


def planner_settings(name: str, overrides: dict[str, Any], debug: bool) -> dict[str, Any]:
    """Planner hyperparameters of configs/agent/<name>.yaml, then the debug sizes, then the
    overrides (UserError, one line, for an unknown planner or setting)."""
    from omegaconf import OmegaConf

    if name not in PLANNERS:
        raise UserError(f"unknown agent {name!r}; valid: {', '.join(PLANNERS)}")
    unknown = sorted(set(overrides) - set(PLANNER_KEYS))
    if unknown:
        raise UserError(f"unknown planner settings {unknown}; valid: {', '.join(PLANNER_KEYS)}")
    agent_cfg = OmegaConf.to_container(training_config([f"agent={name}"]).agent, resolve=False)
    assert isinstance(agent_cfg, dict)
    settings = {k: agent_cfg[k] for k in PLANNER_KEYS}
    if debug:
        # the training debug budget, so a debug run's planner and its evaluation agree
        from worldmodels.training.debug import DEBUG_PLANNER

        settings.update(DEBUG_PLANNER)
    settings.update(overrides)
    return settings


def training_config(overrides: list[str]) -> DictConfig:
    """configs/config.yaml (the training config) composed with `overrides`, also from inside
    a running Hydra app of another config dir (the commands' own: its state is put back)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.initialize import get_gh_backup, restore_gh_from_backup

    from worldmodels.config.compose import compose_config

    backup = get_gh_backup()
    GlobalHydra.instance().clear()
    try:
        return compose_config(overrides)
    finally:
        restore_gh_from_backup(backup)


def build_planner(
    loaded: LoadedRun, settings: dict[str, Any], device: torch.device, prior: bool = True
) -> PlannerAgent:
    """A planner agent on the run's world model; with `prior`, the run agent's planning prior
    (actor proposals, terminal value) attached, used where the settings ask for it."""
    wm = loaded.require_world_model()
    try:
        agent = PlannerAgent(wm.obs_spec, wm.act_spec, device, world_model=wm, **settings)
    except (TypeError, ValueError) as err:
        raise UserError(str(err)) from err
    offered = loaded.planning_prior() if prior else None
    if offered is not None:
        agent.attach(actor=offered.actor, value=offered.value)
    return agent
