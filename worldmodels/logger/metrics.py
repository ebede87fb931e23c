"""One call site for metrics: RUN_DIR/metrics.jsonl, a console line and the selected backends.

Training metrics arrive as 0-dim tensors from `agent.update` and are summed on device by
`MetricMean`; the host reads them once per log interval (one sync), never inside an update.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from worldmodels.logger.backend import Backend


class MetricMean:
    """Running means of named metrics, accumulated as device tensors without host syncs."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, metrics: Mapping[str, torch.Tensor | float]) -> None:
        for key, value in metrics.items():
            value = (
                value.detach().float()
                if isinstance(value, torch.Tensor)
                else torch.tensor(float(value))
            )
            if key in self._sums:
                self._sums[key] = self._sums[key] + value
                self._counts[key] += 1
            else:
                self._sums[key] = value
                self._counts[key] = 1

    def peek(self, select: Any) -> dict[str, float]:
        """Means of the metrics whose name `select(name)` accepts, without resetting them (one
        host transfer): the health check before an evaluation."""
        by_device: dict[torch.device, list[str]] = {}
        for key, value in self._sums.items():
            if select(key):
                by_device.setdefault(value.device, []).append(key)
        out: dict[str, float] = {}
        for keys in by_device.values():
            values = torch.stack([self._sums[k] for k in keys]).tolist()
            out.update({k: v / self._counts[k] for k, v in zip(keys, values)})
        return out

    @property
    def empty(self) -> bool:
        return not self._sums

    def read(self) -> dict[str, float]:
        """Means since the last read; one host transfer per device the metrics live on."""
        by_device: dict[torch.device, list[str]] = {}
        for key, value in self._sums.items():
            by_device.setdefault(value.device, []).append(key)
        out: dict[str, float] = {}
        for keys in by_device.values():
            values = torch.stack([self._sums[k] for k in keys]).tolist()
            out.update({k: v / self._counts[k] for k, v in zip(keys, values)})
        self._sums.clear()
        self._counts.clear()
        return out


def non_finite(metrics: dict[str, float]) -> list[str]:
    """Names of metrics whose value is NaN or infinite."""
    return [k for k, v in metrics.items() if not math.isfinite(v)]


class Logger:
    """Writes every log event to RUN_DIR/metrics.jsonl and the console, and hands it to the
    selected backends (TensorBoard, CSV, W&B, MLflow: worldmodels.logger.build)."""

    def __init__(
        self,
        run_dir: Path,
        tensorboard: bool = True,
        console: bool = True,
        purge_step: int | None = None,
        backends: list[Backend] | None = None,
    ):
        """`backends`: where events go besides metrics.jsonl; None: TensorBoard when
        `tensorboard`. `purge_step` (a resume): TensorBoard hides the events an earlier process
        wrote at this env frame and later (they were written after the checkpoint resumed)."""
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(self.run_dir / "metrics.jsonl", "a", buffering=1)  # noqa: SIM115 (kept open)
        if backends is None:
            from worldmodels.logger.tensorboard_backend import TensorBoardBackend

            backends = [TensorBoardBackend(self.run_dir, purge_step)] if tensorboard else []
        self.backends = list(backends)
        self.console = console
        self._start = time.time()

    def log(
        self, counters: dict[str, int], metrics: dict[str, float], wall_time: float | None = None
    ) -> None:
        """One event: step counters (env_frames, policy_steps, grad_steps) + namespaced metrics."""
        record: dict[str, Any] = dict(counters)
        record["wall_time"] = round(
            time.time() - self._start if wall_time is None else wall_time, 3
        )
        record.update({k: _jsonable(v) for k, v in sorted(metrics.items())})
        self._jsonl.write(json.dumps(record) + "\n")
        finite = {
            k: v for k, v in metrics.items() if isinstance(v, int | float) and math.isfinite(v)
        }
        steps = {**counters, "wall_time": record["wall_time"]}
        for backend in self.backends:
            backend.log_metrics(steps, finite)
        if self.console:
            shown = [f"{k}={v:.4g}" for k, v in sorted(metrics.items()) if _console_worthy(k)]
            line = " ".join(f"{k}={v}" for k, v in counters.items())
            tqdm.write(f"[{line}] " + " ".join(shown))  # above the progress bar, not through it

    def log_config(self, config: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        """Once per run: the resolved config and the run's metadata, to every backend."""
        for backend in self.backends:
            backend.log_config(config, metadata)

    def video(self, name: str, frames: np.ndarray, step: int, fps: int = 20) -> Path:
        """Writes uint8 frames [T, H, W, C] to RUN_DIR/videos/<name>_<step>.gif and the backends."""
        from worldmodels.logger.video import write_gif

        path = self.run_dir / "videos" / f"{name.replace('/', '_')}_{step:09d}.gif"
        data = write_gif(path, frames, fps)
        for backend in self.backends:
            backend.log_video(name, path, data, frames.shape, step)
        return path

    def flush(self) -> None:
        self._jsonl.flush()
        for backend in self.backends:
            backend.flush()

    def close(self) -> None:
        self._jsonl.close()
        for backend in self.backends:
            backend.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _console_worthy(key: str) -> bool:
    return key.startswith(("episode/", "eval/", "perf/")) or key.endswith(("/loss", "loss/total"))
