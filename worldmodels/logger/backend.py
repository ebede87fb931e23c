"""What every logging backend (TensorBoard, CSV, Weights & Biases, MLflow) implements.

`Logger` (metrics.py) is the one call site: it writes RUN_DIR/metrics.jsonl and the console line
itself and hands each event to the backends the `logger` config group selected
(configs/logger/*.yaml, built by worldmodels.logger.build).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol


class Backend(Protocol):
    """One logging destination. Metrics are finite floats keyed by namespaced names
    ("train/loss", "eval/return"); `step` is the env-frame counter."""

    name: str

    def log_metrics(self, counters: Mapping[str, int], metrics: Mapping[str, float]) -> None:
        """One event: step counters (env_frames, policy_steps, grad_steps) and metrics."""

    def log_config(self, config: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        """Once per run (a fresh start): the resolved config and the run's metadata."""

    def log_video(
        self, name: str, path: Path, gif: bytes, shape: tuple[int, ...], step: int
    ) -> None:
        """A GIF already written to `path` (uint8 frames of `shape` [T, H, W, C])."""

    def flush(self) -> None: ...

    def close(self) -> None: ...


class MissingBackend(ImportError):
    """A selected backend's package is not installed (a one-line message naming it)."""


def require(module: str, backend: str, package: str) -> Any:
    """Imports `module` or raises MissingBackend saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingBackend(
            f"logger={backend} needs the '{package}' package, which is not installed; "
            f"pip install {package} (or pip install -e '.[{backend}]'), or drop {backend} from "
            "logger=[...]"
        ) from err


def flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"agent": {"lr": 1e-4}} -> {"agent.lr": 1e-4}; lists and None become strings (what
    hparams tables and MLflow params accept)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat(value, name + "."))
        elif isinstance(value, bool | int | float | str):
            out[name] = value
        else:
            out[name] = str(value)
    return out
