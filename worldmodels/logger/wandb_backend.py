"""Weights & Biases: metrics against env frames, the config, metadata and GIF videos.

Offline by default (`logger.wandb.mode=offline`): the run is written to RUN_DIR/wandb/ with no
network and no account; `wandb sync RUN_DIR/wandb/offline-run-*` uploads it later. A resume
continues the same W&B run (its id is kept in RUN_DIR/wandb_run_id).
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from worldmodels.logger.backend import require

ID_FILE = "wandb_run_id"


class WandbBackend:
    name = "wandb"

    def __init__(
        self,
        run_dir: Path,
        purge_step: int | None = None,
        project: str = "worldmodels",
        entity: str | None = None,
        mode: str = "offline",
        name: str | None = None,
        group: str | None = None,
        tags: list[str] | None = None,
        dir: str | None = None,
        console: str = "off",
    ):
        wandb = require("wandb", "wandb", "wandb")
        if mode not in ("offline", "online", "disabled"):
            raise ValueError(f"logger.wandb.mode must be offline, online or disabled, got {mode!r}")
        self.run_dir = Path(run_dir)
        id_file = self.run_dir / ID_FILE
        resuming = purge_step is not None and id_file.exists()
        run_id = id_file.read_text().strip() if resuming else secrets.token_hex(4)  # W&B-valid
        self._wandb = wandb
        self.run = wandb.init(
            project=project,
            entity=entity,
            mode=mode,
            name=name or self.run_dir.name,
            group=group,
            tags=list(tags or []),
            dir=str(dir or self.run_dir),
            id=run_id,
            resume="allow" if resuming else None,
            # our console goes to RUN_DIR/train.log; "wrap" would also send it to W&B
            settings=wandb.Settings(console=console, silent=True),
        )
        id_file.write_text(run_id + "\n")
        # curves against env frames (the unit of published DMC curves), not W&B's own step
        self.run.define_metric("env_frames")
        self.run.define_metric("*", step_metric="env_frames")
        self._video_failed = False

    def log_metrics(self, counters: Mapping[str, int], metrics: Mapping[str, float]) -> None:
        self.run.log({**counters, **metrics})

    def log_config(self, config: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        self.run.config.update(dict(config), allow_val_change=True)
        self.run.config.update({"_metadata": dict(metadata)}, allow_val_change=True)

    def log_video(
        self, name: str, path: Path, gif: bytes, shape: tuple[int, ...], step: int
    ) -> None:
        try:
            self.run.log({name: self._wandb.Video(str(path), format="gif"), "env_frames": step})
        except Exception as err:  # a video must never end a training run; say so once
            if not self._video_failed:
                warnings.warn(f"logger=wandb could not log the video {path}: {err}", stacklevel=2)
            self._video_failed = True

    def flush(self) -> None:
        """W&B writes in its own process; nothing to flush here."""

    def close(self) -> None:
        self.run.finish()
