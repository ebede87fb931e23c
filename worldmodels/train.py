"""Training entry point (Hydra):

    python -m worldmodels.train agent=dreamer env=dmc_vision env.task=walker_walk seed=1
    python -m worldmodels.train ... resume=true        # continue this command's run
    python -m worldmodels.train resume=runs/NAME       # continue the run in that dir (no quotes)
    python -m worldmodels.train resume=last trainer.steps=2000000   # the newest run, longer
    python -m worldmodels.train -m seed=0,1,2 +ablation=none,no_free_nats   # a sweep

The run dir (printed at start) is runs/<overrides> unless `run_dir=...` is given. This module is
the only place that turns Hydra config into plain objects: envs, agent, store, logger, loop.
Before anything is built the config is checked against its schema (worldmodels.config.schema);
every user error is one line on stderr and exit code 2 (worldmodels.errors).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any, cast

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from worldmodels.agents.base import build_agent
from worldmodels.config.compose import CONFIG_DIR, check_command_line, check_config, compose_config
from worldmodels.config.resume import (
    config_of_run,
    pin_resume_dir,
    quote_path_overrides,
    resume_kind,
    resumed_dir,
)
from worldmodels.errors import UserError, exit_on_errors, hydra_user_error_exit
from worldmodels.logger.console_file import ConsoleFile
from worldmodels.training import checkpoint
from worldmodels.training.clocks import Ratio
from worldmodels.training.debug import apply_debug
from worldmodels.training.loop import Loop
from worldmodels.training.preemption import Preempted, StopSignals
from worldmodels.training.run_dir import prepare
from worldmodels.training.settings import ResumeOptions, TrainerConfig

__all__ = ["CONFIG_DIR", "UserError", "cli", "main", "run", "train"]

OmegaConf.register_new_resolver("wm_run_name", lambda s: _safe_name(s) or "default", replace=True)
OmegaConf.register_new_resolver(
    "wm_run_dir",
    lambda run_dir, s: str(run_dir) if run_dir else f"runs/{_safe_name(s) or 'default'}",
    replace=True,
)


def _safe_name(overrides: str) -> str:
    name = overrides.replace("/", "_").replace("+", "")
    if len(name) > 200:  # file names are capped at 255 bytes: keep a readable prefix + a hash
        name = name[:180] + "-" + hashlib.sha1(name.encode()).hexdigest()[:10]
    return name


def resolve_device(name: str) -> torch.device:
    """ "auto" -> cuda when available, else cpu; anything else must be a valid torch device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise UserError(f"unknown device {name!r}; valid: auto, cpu, cuda, cuda:N") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(
            f"device={name} but CUDA is not available here; use device=auto or device=cpu"
        )
    return device


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(cfg: DictConfig, run_dir: Path, overrides: list[str] | None = None) -> Path:
    """Builds every part from `cfg` and runs (or resumes) the run in `run_dir`; returns run_dir.
    `overrides` (the command's) go to overrides.yaml when the run starts afresh. Raises
    UserError/CheckpointError before anything is built, RunFailed when the run breaks, and
    Preempted after the checkpoint a SIGTERM/SIGINT asked for."""
    with StopSignals() as stop, ConsoleFile() as console:
        return _train(cfg, Path(run_dir), overrides, stop, console)


def _train(
    cfg: DictConfig,
    run_dir: Path,
    overrides: list[str] | None,
    stop: StopSignals,
    console: ConsoleFile,
) -> Path:
    from worldmodels.data.store import make_store
    from worldmodels.envs.make import make_vec_env, parse_env_config
    from worldmodels.envs.spaces import row_spec
    from worldmodels.logger.build import build_logger
    from worldmodels.training.metadata import write_metadata

    cfg = apply_debug(cfg, overrides)  # trainer=debug wins over a recipe, shrinks the planner
    cfg = apply_world_model_ablation(cfg)  # what runs is what config.yaml records
    config = check_config(cfg)  # the schema, before any env is built
    start = prepare(run_dir, config, overrides)
    if start.nothing_to_do:
        return run_dir
    state, ckpt_dir = start.state, start.ckpt_dir
    console.open(run_dir / "train.log")  # the console also in RUN_DIR/train.log

    device = resolve_device(cfg.device)
    if device.type == "cpu":
        from worldmodels.training.cpu_allocator import keep_freed_memory

        keep_freed_memory()  # no page faults on every update's large tensors
    metadata = write_metadata(run_dir, device, state is not None, overrides)  # metadata.json
    seed = int(cfg.seed)
    seed_everything(seed)
    train_ratio = train_ratio_of(cfg)
    trainer = cast(dict[str, Any], OmegaConf.to_container(cfg.trainer, resolve=True))
    trainer["train_ratio"] = train_ratio or 0.0
    tcfg = TrainerConfig(
        **trainer,
        progress=bool(cfg.logger.progress),
        video=bool(cfg.logger.video),
    )
    env_cfg = cast(dict[str, Any], OmegaConf.to_container(cfg.env, resolve=True))
    envs = make_vec_env(
        env_cfg, tcfg.num_envs, seed, asynchronous=tcfg.async_envs, time_limit=tcfg.time_limit
    )
    try:
        n_eval = max(1, min(tcfg.eval_episodes, tcfg.num_envs))

        def make_eval_envs() -> Any:
            return make_vec_env(
                env_cfg,
                n_eval,
                seed + 10_000,
                asynchronous=tcfg.async_envs and n_eval > 1,
                time_limit=tcfg.time_limit,
            )

        agent = build_agent(cfg.agent, envs.obs_spec, envs.act_spec, device)
        if train_ratio is None and agent.data.kind in ("sequences", "transitions"):
            raise UserError(
                f"trainer.train_ratio is null and agent {type(agent).__name__} states no "
                "agent.train_ratio; set trainer.train_ratio=N (replayed rows per policy step)"
            )
        if state is not None:
            checkpoint.check_compatible(
                state["signature"], agent.config_signature(), "model config (parameter shapes)"
            )
        spec = {**row_spec(envs.obs_spec, envs.act_spec), **agent.data.extras}
        action_repeat = parse_env_config(env_cfg).action_repeat
        capacity = replay_capacity(cfg, tcfg.steps, action_repeat, envs.num_envs, state)
        replay_options = {
            "sampling": cfg.replay.sampling,
            "seed": seed,
            "recency_exponent": float(cfg.replay.recency_exponent),
        }
        clock = Ratio(tcfg.train_ratio / max(agent.data.replayed_per_update, 1))
        store = make_store(
            agent.data,
            spec,
            envs.num_envs,
            device,
            capacity=capacity,
            clock=clock,
            prefill=tcfg.prefill,
            replay_options=replay_options,
        )
        # a resume hides TensorBoard events written after its checkpoint (metrics.jsonl lines
        # past it were dropped by `prepare`): each event is in the run once
        purge = start.env_frames + 1 if state is not None else None
        logger = build_logger(cfg.logger, run_dir, purge, config=config, metadata=metadata)
        resume = ResumeOptions(
            allow_empty_replay=bool(config.get("resume_without_replay")),
            new_optimizer_settings=start.new_optimizer_settings,
        )
        loop = Loop(tcfg, envs, make_eval_envs, agent, store, logger, run_dir, action_repeat,
                    seed, config, stop, resume)  # fmt: skip
        print(
            f"run dir: {run_dir}  (device {device}, agent {type(agent).__name__}, "
            f"env {env_cfg['suite']}:{env_cfg['task']})",
            flush=True,
        )
        try:
            final = loop.run(state, ckpt_dir)
        finally:
            loop.close()
    finally:
        envs.close()
    if final == "preempted" and stop.requested is not None:
        print(
            f"preempted ({Preempted(stop.requested)}) at {loop.counters['env_frames']} frames: "
            f"checkpoint written in {checkpoint.checkpoint_dir(run_dir)}; the same command with "
            "resume=true continues",
            flush=True,
        )
        raise Preempted(stop.requested)
    return run_dir


def replay_capacity(
    cfg: DictConfig, steps: int, action_repeat: int, num_envs: int, state: dict[str, Any] | None
) -> int:
    """Rows the replay holds: replay.capacity, but never more than the run collects (derived,
    never written back); a resumed run keeps the capacity its checkpoint was built with."""
    rows_needed = -(-steps // action_repeat) + num_envs
    wanted = min(int(cfg.replay.capacity), rows_needed)
    if state is None or state.get("replay_capacity") is None:  # fresh, or a rollout store's
        return wanted
    capacity = int(state["replay_capacity"])
    if capacity < wanted:  # a longer budget now
        print(
            f"resume: the replay keeps the {capacity} rows it was built with; "
            f"trainer.steps={steps} collects {rows_needed}, so its oldest rows are "
            "dropped first (an uninterrupted run of this budget would keep them)",
            flush=True,
        )
    return capacity


def apply_world_model_ablation(cfg: DictConfig) -> DictConfig:
    """`cfg` with its world-model ablation (`ablation_world_model`, set by configs/ablation/)
    merged into `agent.world_model`, where every head with a world model holds it. The merged
    agent is what config.yaml records, so evaluate/compare rebuild the model that ran. A head
    without a world model (no `world_model` node, or `input` other than latent) has none to
    change: that is an error, not a silent no-op."""
    ablation = cfg.get("ablation_world_model")
    if not ablation:
        return cfg
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    assert isinstance(out, DictConfig)
    agent = out.agent
    if "world_model" not in agent:
        raise UserError(
            f"ablation_world_model ({', '.join(ablation)}) changes a world model, but "
            f"{agent.get('_target_')} has none (no agent.world_model)"
        )
    if agent.get("input", "latent") != "latent":  # SAC, TD3, DQN, PPO: only with input=latent
        raise UserError(
            f"ablation_world_model ({', '.join(ablation)}) changes a world model, but "
            f"agent.input={agent.get('input')} has none; add agent.input=latent"
        )
    agent.world_model = OmegaConf.merge(agent.world_model, ablation)
    return out


def train_ratio_of(cfg: DictConfig) -> float | None:
    """The train ratio the loop uses: the agent's own `agent.train_ratio` (each agent config and
    preset states it; `build_agent` leaves it out of the agent's arguments), unless
    `trainer.train_ratio` is set, which wins. Agents that never replay (PPO, random) may state
    none (None); one that replays and has none is refused once it is built."""
    ratio = cfg.trainer.get("train_ratio")
    if ratio is None:
        ratio = cfg.agent.get("train_ratio")
    return None if ratio is None else float(ratio)


def resolve_run_dir(cfg: DictConfig, default: Path) -> Path:
    """run_dir=PATH wins (resume=PATH sets it); else the Hydra run dir."""
    return Path(cfg.run_dir) if cfg.run_dir else default


def resumed_config(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """resume=RUN_DIR or resume=last: that run's saved config plus what `overrides` change
    (checked when the run starts: safe changes applied, the rest refused); else `cfg`."""
    if resume_kind(cfg.resume) in ("last", "path"):
        where = resumed_dir(cfg.resume)
        assert where is not None
        return config_of_run(where, overrides, compose_config)
    return cfg


def run(overrides: list[str]) -> Path:
    """In-process entry for tests and notebooks: compose the config with `overrides` and train.
    Needs `run_dir=...` among the overrides (no Hydra run dir exists outside `main`)."""
    overrides = quote_path_overrides(list(overrides))
    cfg = resumed_config(compose_config(overrides), overrides)
    if not cfg.run_dir:
        raise UserError("run(...) needs a run_dir=... override")
    return train(cfg, Path(cfg.run_dir), overrides)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    with exit_on_errors():
        overrides = list(HydraConfig.get().overrides.task)
        cfg = resumed_config(cfg, overrides)
        run_dir = resolve_run_dir(cfg, Path(HydraConfig.get().runtime.output_dir))
        train(cfg, run_dir, overrides)


def cli() -> None:
    """`python -m worldmodels.train ARGS`: run paths need no quotes, the command line is
    composed and checked before Hydra starts (one line, exit code 2, on any user error)."""
    args = quote_path_overrides(sys.argv[1:])
    with exit_on_errors():
        args = pin_resume_dir(args)
        check_command_line(args)
    sys.argv = [sys.argv[0], *args]
    with hydra_user_error_exit():
        main()


if __name__ == "__main__":
    cli()
