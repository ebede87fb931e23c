"""The `logger` config group (configs/logger/*.yaml) -> a `Logger` with its backends.

    logger=[tensorboard,csv,wandb,mlflow]     # any subset, in any order; default [tensorboard]
    logger.wandb.mode=online logger.mlflow.tracking_uri=sqlite:///mlflow.db

Each selected option adds its own key under `logger` (`logger.csv: {file: metrics.csv}`); a key
set to false turns that backend off (`logger.tensorboard=false`). RUN_DIR/metrics.jsonl and the
console line are always written (the analysis tools read metrics.jsonl).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from worldmodels.errors import UserError
from worldmodels.logger.backend import Backend, MissingBackend
from worldmodels.logger.metrics import Logger

#: backend name -> (module, class, the package it needs)
BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "tensorboard": ("worldmodels.logger.tensorboard_backend", "TensorBoardBackend", "tensorboard"),
    "csv": ("worldmodels.logger.csv_backend", "CSVBackend", None),
    "wandb": ("worldmodels.logger.wandb_backend", "WandbBackend", "wandb"),
    "mlflow": ("worldmodels.logger.mlflow_backend", "MLflowBackend", "mlflow"),
}
#: keys under `logger` that are not backends
SETTINGS = ("video", "progress")


def selected(logger_cfg: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{backend name: its options} for every backend the config turns on."""
    out: dict[str, dict[str, Any]] = {}
    for name in BACKENDS:
        value = logger_cfg.get(name)
        if value is None or value is False:
            continue
        out[name] = {} if value is True else dict(value)
    return out


def _backend_class(name: str) -> Any:
    module, cls, _ = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)


def check_logger_config(logger_cfg: Mapping[str, Any]) -> None:
    """UserError (one line) for an unknown key, an unknown backend option or a selected backend
    whose package is missing; checked with the schema, before anything is built."""
    valid = sorted([*BACKENDS, *SETTINGS])
    for key, value in logger_cfg.items():
        if key not in BACKENDS and key not in SETTINGS:
            raise UserError(f"unknown key logger.{key}; valid logger keys: {', '.join(valid)}")
        if key in BACKENDS and not (isinstance(value, bool | Mapping) or value is None):
            raise UserError(
                f"logger.{key} must be true, false or the options of configs/logger/{key}.yaml, "
                f"got {value!r}"
            )
    for name, options in selected(logger_cfg).items():
        params = inspect.signature(_backend_class(name)).parameters
        allowed = [p for p in params if p not in ("self", "run_dir", "purge_step")]
        for option in options:
            if option not in allowed:
                raise UserError(
                    f"unknown option logger.{name}.{option}; valid: {', '.join(allowed) or 'none'}"
                )
        package = BACKENDS[name][2]
        if package and importlib.util.find_spec(package) is None:
            raise UserError(
                f"logger={name} needs the '{package}' package, which is not installed; pip "
                f"install {package} (or pip install -e '.[{name}]'), or leave {name} out of logger"
            )


def build_backends(
    logger_cfg: Mapping[str, Any], run_dir: Path, purge_step: int | None = None
) -> list[Backend]:
    """The selected backends, built in `run_dir`; one that fails closes the ones built before."""
    built: list[Backend] = []
    try:
        for name, options in selected(logger_cfg).items():
            built.append(_backend_class(name)(Path(run_dir), purge_step=purge_step, **options))
    except MissingBackend as err:
        for backend in built:
            backend.close()
        raise UserError(str(err)) from err
    except BaseException:
        for backend in built:
            backend.close()
        raise
    return built


def build_logger(
    logger_cfg: Mapping[str, Any],
    run_dir: Path,
    purge_step: int | None = None,
    config: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    console: bool = True,
) -> Logger:
    """The run's Logger. `purge_step` is set on a resume (the env frame of its checkpoint): the
    backends continue the same run and drop what was logged after it. On a fresh start
    (`purge_step` None) the config and metadata are logged once, to every backend."""
    logger = Logger(
        Path(run_dir),
        console=console,
        purge_step=purge_step,
        backends=build_backends(logger_cfg, run_dir, purge_step),
    )
    if purge_step is None and config is not None:
        logger.log_config(config, metadata or {})
    return logger
