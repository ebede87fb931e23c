"""Every recipe in configs/experiment composes, and so does every value its sweep would launch:
the groups exist, the trainer keys are the loop's, the agent keys are its constructor's, and the
DMC task names are real dm_control tasks."""

from __future__ import annotations

import inspect
import itertools
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from worldmodels.training.loop import TrainerConfig

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))


def _compose(overrides: list[str], hydra_cfg: bool = False) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=hydra_cfg)


def _check_job(cfg: DictConfig) -> None:
    trainer: dict[str, Any] = OmegaConf.to_container(cfg.trainer, resolve=True)  # type: ignore[assignment]
    TrainerConfig(**trainer)  # unknown or missing trainer keys raise here
    agent = OmegaConf.to_container(cfg.agent, resolve=True)
    assert isinstance(agent, dict)
    agent.pop("train_ratio", None)  # the loop's (worldmodels.train reads it), not the agent's
    params = inspect.signature(get_class(agent.pop("_target_"))).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = set(agent) - set(params)
        assert not unknown, f"{cfg.agent._target_} takes no {sorted(unknown)}"


#: the CPU learning benchmark (issue 11): 100k frames on one core, not a published budget
CPU_RECIPES = ("cpu_proprio_dreamer", "cpu_proprio_sac")


def test_the_recipes_exist():
    assert EXPERIMENTS == [
        "ablate_world_model",
        "cpu_proprio_dreamer",
        "cpu_proprio_sac",
        "dreamer_dmc_vision",
        "model_free_baselines",
        "plan_vs_learn",
    ]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_and_its_sweep_compose(name):
    from worldmodels.envs.dmc import load_suite, split_task

    cfg = _compose([f"+experiment={name}"], hydra_cfg=True)
    params = {k: str(v).split(",") for k, v in cfg.hydra.sweeper.params.items()}
    assert "seed" in params and len(params["seed"]) >= 3, "a recipe sweeps at least 3 seeds"
    budget = 100_000 if name in CPU_RECIPES else 500_000
    assert cfg.trainer.steps >= budget and cfg.env.action_repeat == 2
    # Each value of a group axis (agent, ablation) once, with the other axes at their first value.
    first = {k: v[0] for k, v in params.items()}
    for key, values in params.items():
        for value in values:
            job = {**first, key: value}
            _check_job(_compose([f"+experiment={name}", *(f"{k}={v}" for k, v in job.items())]))
    if cfg.env.suite == "dmc":
        suite = load_suite(pixels=False)
        for task in params.get("env.task", [cfg.env.task]):
            split_task(task, suite)  # ValueError names the valid tasks


def test_sweep_size_is_the_product_of_its_axes():
    cfg = _compose(["+experiment=ablate_world_model"], hydra_cfg=True)
    axes = [str(v).split(",") for v in cfg.hydra.sweeper.params.values()]
    assert len(list(itertools.product(*axes))) == 8 * 3 * 3
