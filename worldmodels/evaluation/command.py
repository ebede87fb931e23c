"""What the Hydra apps `worldmodels.evaluate` and `worldmodels.compare` share: their config dir
(configs/commands/), the command line users type (KEY=VALUE; planner settings as `horizon=8`,
`agent.horizon=8` or `planner.horizon=8`), in-process composition for tests and notebooks, and
one-line errors with exit code 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from worldmodels.agents.planners import PLANNER_KEYS
from worldmodels.config.compose import CONFIG_DIR
from worldmodels.config.resume import quote_path_overrides
from worldmodels.errors import EXIT_USER_ERROR, UserError, hydra_user_error_exit

COMMANDS_DIR = str(Path(CONFIG_DIR) / "commands")
TRAINERS = ("default", "debug")
DEBUG_EPISODES = 2


def command_keys(name: str) -> tuple[str, ...]:
    """The top-level keys of configs/commands/<name>.yaml (besides `planner` and `hydra`)."""
    cfg = OmegaConf.load(Path(COMMANDS_DIR) / f"{name}.yaml")
    assert isinstance(cfg, DictConfig)
    return tuple(str(k) for k in cfg if k not in ("defaults", "planner", "hydra"))


def normalize_args(name: str, args: list[str]) -> list[str]:
    """The command line as Hydra overrides: `horizon=8` and `agent.horizon=8` become
    `planner.horizon=8`; flags (--help, --cfg job, ...) and hydra.* pass through. UserError
    (one line) for an argument that is not KEY=VALUE or names no key."""
    keys, out = command_keys(name), []
    for i, arg in enumerate(args):
        key, sep, value = arg.partition("=")
        flag_value = i > 0 and args[i - 1].startswith("-") and not sep  # --cfg job
        if arg.startswith("-") or flag_value or key.startswith(("hydra.", "hydra/")):
            out.append(arg)
            continue
        if not sep:
            raise UserError(
                f"argument {arg!r} is not KEY=VALUE; valid keys: {', '.join(keys)}, or planner "
                f"settings {', '.join(PLANNER_KEYS)}"
            )
        setting = key.removeprefix("agent.").removeprefix("planner.")
        if key in keys:
            out.append(arg)
        elif setting in PLANNER_KEYS:
            out.append(f"planner.{setting}={value}")
        else:
            raise UserError(
                f"unknown argument {key!r}; valid: {', '.join(keys)} and planner settings "
                f"{', '.join(PLANNER_KEYS)}"
            )
    # run dirs of sweeps are named after their overrides (`env.task=walker_walk,seed=0`): quoted
    # for Hydra here, so they need no shell quoting
    return quote_path_overrides(out, keys=("checkpoint", "run"))


def compose_command(name: str, args: list[str]) -> DictConfig:
    """configs/commands/<name>.yaml with the command line `args` (in-process runs)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    overrides = normalize_args(name, args)
    try:
        with initialize_config_dir(config_dir=COMMANDS_DIR, version_base="1.3"):
            return compose(config_name=name, overrides=overrides)
    except HydraException as err:
        raise UserError(" ".join(str(err).split())) from err


def planner_overrides(cfg: DictConfig) -> dict[str, Any]:
    """The planner settings the command line set (the others stay null: the agent yaml's)."""
    planner = OmegaConf.to_container(cfg.planner, resolve=True)
    assert isinstance(planner, dict)
    return {str(k): v for k, v in planner.items() if v is not None}


def is_debug(cfg: DictConfig) -> bool:
    if cfg.trainer not in TRAINERS:
        raise UserError(f"unknown trainer {cfg.trainer!r}; valid: {', '.join(TRAINERS)}")
    return bool(cfg.trainer == "debug")


def int_option(cfg: DictConfig, key: str, default: int) -> int:
    """An integer option (null: `default`); UserError for anything else."""
    value = cfg.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{key} must be an integer, got {value!r}")
    if key == "episodes" and value < 1:
        raise UserError(f"episodes must be >= 1, got {value}")
    return value


def debug_time_limit() -> int | None:
    """Episode cap of configs/trainer/debug.yaml (frames)."""
    cfg = OmegaConf.load(Path(CONFIG_DIR) / "trainer" / "debug.yaml")
    assert isinstance(cfg, DictConfig)
    limit = cfg.get("time_limit")
    return None if limit is None else int(limit)


@contextmanager
def command_errors(name: str) -> Iterator[None]:
    """User errors (bad arguments, an unusable run dir, a bad checkpoint) become one line on
    stderr, `worldmodels.<name>: error: ...`, and exit code 2 (WM_DEBUG=1: the traceback)."""
    from omegaconf.errors import OmegaConfBaseException

    from worldmodels.training.checkpoint import CheckpointError

    try:
        yield
    except (UserError, CheckpointError, ValueError, OmegaConfBaseException) as err:
        if os.environ.get("WM_DEBUG"):
            raise
        message = " ".join(str(err).split())
        print(f"worldmodels.{name}: error: {message}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)


def cli(name: str, main: Callable[[], Any]) -> None:
    """`python -m worldmodels.<name> ARGS`: the arguments normalized, then the Hydra app `main`
    (whose body runs under `command_errors`); Hydra's own errors exit 2 as well."""
    with command_errors(name):
        sys.argv = [sys.argv[0], *normalize_args(name, sys.argv[1:])]
    with hydra_user_error_exit():
        main()
