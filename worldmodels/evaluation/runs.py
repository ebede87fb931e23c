"""Load a run dir for evaluation: config, env, the run's own agent and its world model."""

from __future__ import annotations

import sys
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

    def require_agent(self) -> Agent:
        """The run's own agent, or UserError (one line) when the run dir has no checkpoint."""
        if self.agent is None:
            raise UserError(
                f"{self.run_dir} has no checkpoint/ to rebuild its agent from (a run writes one "
                "every trainer.checkpoint_every frames and at its end); agent=cem|mppi|"
                "random_shooting plans on its world_model.pt instead"
            )
        return self.agent

    def close(self) -> None:
        self.envs.close()


def video_env_config(env_cfg: dict[str, Any]) -> dict[str, Any]:
    """The run's env config with rendered frames in the observations: `obs=both` for a run that
    learned from state (dm_control, MuJoCo gym envs and classic control render; the agent reads
    only its own observation keys), unchanged for pixel runs."""
    cfg = dict(env_cfg)
    from worldmodels.envs.make import DEFAULT_OBS

    if (cfg.get("obs") or DEFAULT_OBS.get(str(cfg.get("suite")), "proprio")) == "proprio":
        cfg["obs"] = "both"
    return cfg


def make_eval_envs(env_cfg: dict[str, Any], seed: int, time_limit: int | None, video: bool) -> Any:
    """A 1-env VecEnv of the run's env; with `video`, one that renders where the env can (one
    that cannot: a warning line, and the evaluation runs without video)."""
    from worldmodels.envs.make import make_vec_env

    if video:
        try:
            return make_vec_env(
                video_env_config(env_cfg), 1, seed, asynchronous=False, time_limit=time_limit
            )
        except (ValueError, ImportError, RuntimeError) as err:
            print(
                f"warning: video=true, but this env cannot render here ({err}); no video",
                file=sys.stderr,
                flush=True,
            )
    return make_vec_env(env_cfg, 1, seed, asynchronous=False, time_limit=time_limit)


def load_run(
    run_dir: str | Path,
    device: torch.device,
    time_limit: int | None = None,
    video: bool = False,
) -> LoadedRun:
    """Loads a run dir (UserError, one line, when it is not a usable run dir). `time_limit`
    caps the env's episodes (None: the run's trainer.time_limit); `video`: the env renders
    frames (see `video_env_config`); the agent and world model keep the run's own specs."""
    from omegaconf import OmegaConf

    from worldmodels.envs.make import env_specs
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
    envs = make_eval_envs(config["env"], int(config.get("seed", 0)), limit, video)
    try:
        obs_spec, act_spec = env_specs(config["env"]) if video else (envs.obs_spec, envs.act_spec)
        agent = None
        if has_ckpt:
            state, _ = checkpoint.load(run_dir)
            agent = build_agent(state["config"]["agent"], obs_spec, act_spec, device)
            agent.load_state_dict(state["agent"])
        world_model = agent.world_model if agent is not None else None
        if (run_dir / WORLD_MODEL_FILE).exists():  # CRC-checked: a garbled file is an error
            saved = load_world_model(run_dir / WORLD_MODEL_FILE, device)
            if world_model is None:
                world_model = saved
            else:  # one world model for all: the agent's, holding world_model.pt's weights
                world_model.load_state_dict(saved.state_dict())
        if world_model is not None:
            if world_model.obs_spec != obs_spec or world_model.act_spec != act_spec:
                raise UserError(
                    f"{run_dir}/world_model.pt does not fit the run's env {config['env']['task']}"
                )
            world_model.eval()
    except BaseException:
        envs.close()
        raise
    return LoadedRun(run_dir, config, agent, world_model, envs)
