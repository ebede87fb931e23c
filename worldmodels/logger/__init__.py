"""Logging: RUN_DIR/metrics.jsonl, the console, and the backends of the `logger` config group
(TensorBoard, CSV, Weights & Biases, MLflow). `build_logger(cfg.logger, run_dir, ...)` is what
the training entry point calls."""

from __future__ import annotations

from typing import Any


def build_logger(*args: Any, **kwargs: Any) -> Any:
    """worldmodels.logger.build.build_logger (imported on call: this package stays light)."""
    from worldmodels.logger.build import build_logger as build

    return build(*args, **kwargs)
