"""Load a run dir for evaluation: config, env, the run's own agent and its world model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worldmodels.agents.base import Agent, PlanningPrior, build_agent
from worldmodels.errors import UserError
from worldmodels.models.base import WorldModelBase
from worldmodels.models.build import FILE as WORLD_MODEL_FILE
from worldmodels.models.build import load_world_model


@dataclass
class LoadedRun:
    """What a run dir provides: its config, a 1-env copy of its env, its own agent with the
    checkpoint's weights (None without a checkpoint) and the world model of RUN_DIR/world_model.pt
    (the agent's own, holding the file's weights, when the agent has one; None for an agent that
    acts on raw observations)."""

    run_dir: Path
    config: dict[str, Any]
    agent: Agent | None
    world_model: WorldModelBase | None
    envs: Any  # a 1-env VecEnv of the run's env config

    @property
    def agent_name(self) -> str:
        target = str(self.config.get("agent", {}).get("_target_", "?"))
        return target.rsplit(".", 1)[-1]

    def planning_prior(self) -> PlanningPrior | None:
        """The actor proposal and terminal value the run's agent offers a planner, if any."""
        return self.agent.planning_prior() if self.agent is not None else None

    def require_world_model(self) -> WorldModelBase:
        """The world model, or UserError (one line) saying why this run has none."""
        if self.world_model is None:
            raise UserError(
                f"{self.run_dir} has no world model to plan with ({self.agent_name} acts on raw "
                "observations, and there is no world_model.pt): runs of dreamer, cem, mppi, "
                "random_shooting, or sac/td3/dqn/ppo with agent.input=latent have one"
            )
        return self.world_model

    def close(self) -> None:
        self.envs.close()


def load_run(run_dir: str | Path, device: torch.device, time_limit: int | None = None) -> LoadedRun:
    """Loads a run dir (UserError, one line, when it is not a usable run dir). `time_limit`
    caps the env's episodes (None: the run's trainer.time_limit)."""
    from omegaconf import OmegaConf

    from worldmodels.envs.make import make_vec_env
    from worldmodels.training import checkpoint

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(
            f"run dir {run_dir} does not exist; pass the dir a training run wrote (runs/...)"
        )
    if not (run_dir / "config.yaml").exists():
        raise UserError(
            f"{run_dir} has no config.yaml; valid: a run dir written by worldmodels.train"
        )
    has_ckpt = checkpoint.has_checkpoint(run_dir)
    if not has_ckpt and not (run_dir / WORLD_MODEL_FILE).exists():
        raise UserError(
            f"{run_dir} has no checkpoint and no world_model.pt (both are written at checkpoints)"
        )
    loaded = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=True)
    assert isinstance(loaded, dict)
    config: dict[str, Any] = {str(k): v for k, v in loaded.items()}
    limit = time_limit if time_limit is not None else config.get("trainer", {}).get("time_limit")
    envs = make_vec_env(
        config["env"], 1, int(config.get("seed", 0)), asynchronous=False, time_limit=limit
    )
    try:
        agent = None
        if has_ckpt:
            state, _ = checkpoint.load(run_dir)
            agent = build_agent(state["config"]["agent"], envs.obs_spec, envs.act_spec, device)
            agent.load_state_dict(state["agent"])
        world_model = agent.world_model if agent is not None else None
        if (run_dir / WORLD_MODEL_FILE).exists():  # CRC-checked: a garbled file is an error
            saved = load_world_model(run_dir / WORLD_MODEL_FILE, device)
            if world_model is None:
                world_model = saved
            else:  # one world model for all: the agent's, holding world_model.pt's weights
                world_model.load_state_dict(saved.state_dict())
        if world_model is not None:
            if world_model.obs_spec != envs.obs_spec or world_model.act_spec != envs.act_spec:
                raise UserError(
                    f"{run_dir}/world_model.pt does not fit the run's env {config['env']['task']}"
                )
            world_model.eval()
    except BaseException:
        envs.close()
        raise
    return LoadedRun(run_dir, config, agent, world_model, envs)
