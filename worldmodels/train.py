"""Training entry point (Hydra):

    python -m worldmodels.train agent=dreamer env=dmc_vision env.task=walker_walk seed=1
    python -m worldmodels.train ... resume=true        # continue this command's run
    python -m worldmodels.train resume=runs/NAME       # continue the run in that dir
    python -m worldmodels.train -m seed=0,1,2 +ablation=none,no_free_nats   # a sweep

The run dir (printed at start) is runs/<overrides> unless `run_dir=...` is given. This module is
the only place that turns Hydra config into plain objects: envs, agent, store, logger, loop.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any, cast

import hydra
import numpy as np
import torch
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from worldmodels.agents.base import build_agent
from worldmodels.training import checkpoint
from worldmodels.training.loop import Loop, NonFiniteLossError, TrainerConfig

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")
#: Config keys that must match between a checkpoint and the command resuming it.
COMPAT_PREFIXES = ("agent.", "env.", "size.")

OmegaConf.register_new_resolver("wm_run_name", lambda s: _safe_name(s) or "default", replace=True)
OmegaConf.register_new_resolver(
    "wm_run_dir",
    lambda run_dir, s: str(run_dir) if run_dir else f"runs/{_safe_name(s) or 'default'}",
    replace=True,
)


class UserError(ValueError):
    """Bad input from the user (config, paths): reported as one line, no traceback."""


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


def _flat(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _compat_view(config: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in _flat(config).items()
        if k.startswith(COMPAT_PREFIXES) and not k.endswith(".compile")
    }


def train(cfg: DictConfig, run_dir: Path) -> Path:
    """Builds every part from `cfg` and runs (or resumes) the run in `run_dir`; returns run_dir."""
    from worldmodels.data.replay import Replay
    from worldmodels.data.rollout import RolloutBuffer
    from worldmodels.envs.make import make_vec_env, parse_env_config
    from worldmodels.envs.spaces import row_spec
    from worldmodels.logger.metrics import Logger

    resume = cfg.resume not in (False, None, "false", "False")
    run_dir.mkdir(parents=True, exist_ok=True)
    state, ckpt_dir = None, None
    if resume:
        state, ckpt_dir = checkpoint.load(run_dir)
    elif checkpoint.has_checkpoint(run_dir):
        raise UserError(
            f"{run_dir} already holds a run; add resume=true to continue it, "
            "or pick another run_dir=..."
        )
    config = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    if state is not None:
        checkpoint.check_compatible(_compat_view(state["config"]), _compat_view(config), "config")

    device = resolve_device(cfg.device)
    seed = int(cfg.seed)
    seed_everything(seed)
    tcfg = TrainerConfig(
        **OmegaConf.to_container(cfg.trainer, resolve=True),  # type: ignore[arg-type]
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
        if state is not None:
            checkpoint.check_compatible(
                state["signature"], agent.config_signature(), "model config (parameter shapes)"
            )
        spec = row_spec(envs.obs_spec, envs.act_spec)
        action_repeat = parse_env_config(env_cfg).action_repeat
        store: Any
        if agent.data.kind == "rollouts":
            store = RolloutBuffer(agent.data.length, envs.num_envs, spec, device)
        else:
            # Derived, never written back: a run never stores more rows than it will collect.
            rows_needed = -(-tcfg.steps // action_repeat) + envs.num_envs
            capacity = (
                int(state["replay_capacity"])
                if state is not None
                else min(int(cfg.replay.capacity), rows_needed)
            )
            store = Replay(
                spec,
                capacity,
                envs.num_envs,
                device=device,
                sampling=cfg.replay.sampling,
                seed=seed,
                recency_exponent=float(cfg.replay.recency_exponent),
            )
            print(store.describe(), flush=True)
        if state is None:
            OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
        logger = Logger(run_dir, tensorboard=bool(cfg.logger.tensorboard))
        loop = Loop(
            tcfg, envs, make_eval_envs, agent, store, logger, run_dir, action_repeat, seed, config
        )
        if isinstance(store, Replay):
            loop.extra_state = {"replay_capacity": store.capacity}
        print(
            f"run dir: {run_dir}  (device {device}, agent {type(agent).__name__}, "
            f"env {env_cfg['suite']}:{env_cfg['task']})",
            flush=True,
        )
        try:
            loop.run(state, ckpt_dir)
        finally:
            loop.close()
    finally:
        envs.close()
    return run_dir


def resolve_run_dir(cfg: DictConfig, default: Path) -> Path:
    """run_dir=PATH wins; resume=PATH points at a run dir; else the Hydra run dir."""
    if cfg.run_dir:
        return Path(cfg.run_dir)
    if isinstance(cfg.resume, str) and cfg.resume not in ("true", "false", "True", "False"):
        return Path(cfg.resume)
    return default


def _load_resumed_config(cfg: DictConfig) -> DictConfig:
    """resume=RUN_DIR alone: the run's own saved config, so the user need not repeat overrides."""
    if isinstance(cfg.resume, str) and cfg.resume not in ("true", "false", "True", "False"):
        path = Path(cfg.resume) / "config.yaml"
        if not path.exists():
            raise UserError(f"resume={cfg.resume}: no config.yaml there; point resume at a run dir")
        saved = OmegaConf.load(path)
        assert isinstance(saved, DictConfig)
        saved.resume = True
        saved.run_dir = str(Path(cfg.resume))
        return saved
    return cfg


def _save_overrides(run_dir: Path) -> None:
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "overrides.yaml").exists():
        OmegaConf.save(OmegaConf.create(overrides), run_dir / "overrides.yaml")


def run(overrides: list[str]) -> Path:
    """In-process entry for tests and notebooks: compose the config with `overrides` and train.
    Needs `run_dir=...` among the overrides (no Hydra run dir exists outside `main`)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    cfg = _load_resumed_config(cfg)
    if not cfg.run_dir:
        raise UserError("run(...) needs a run_dir=... override")
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "overrides.yaml").exists():
        OmegaConf.save(OmegaConf.create(list(overrides)), run_dir / "overrides.yaml")
    return train(cfg, run_dir)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    try:
        cfg = _load_resumed_config(cfg)
        run_dir = resolve_run_dir(cfg, Path(HydraConfig.get().runtime.output_dir))
        _save_overrides(run_dir)
        train(cfg, run_dir)
    except (UserError, checkpoint.CheckpointError, NonFiniteLossError, ValueError) as err:
        if os.environ.get("WM_DEBUG"):
            raise
        print(f"worldmodels: error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    except InstantiationException as err:  # an agent rejecting its arguments or env
        if os.environ.get("WM_DEBUG"):
            raise
        print(f"worldmodels: error: {err.__cause__ or err}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
