"""TensorBoard: scalars, GIF videos, the config as hparams and as text (RUN_DIR/tb)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from worldmodels.logger.backend import flat


class TensorBoardBackend:
    """SummaryWriter on RUN_DIR/tb. `purge_step` (a resume): TensorBoard hides the events an
    earlier process wrote at this env frame and later (written after the resumed checkpoint)."""

    name = "tensorboard"

    def __init__(self, run_dir: Path, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=purge_step)

    def log_metrics(self, counters: Mapping[str, int], metrics: Mapping[str, float]) -> None:
        step = counters["env_frames"]
        for key, value in metrics.items():
            if isinstance(value, int | float) and math.isfinite(value):
                self.writer.add_scalar(key, value, step)

    def log_config(self, config: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams

        # hparams() + the writer's own file writer puts the table in this run's event file
        # (SummaryWriter.add_hparams would open a second run in a timestamped subdir).
        params = flat(config)
        exp, ssi, sei = hparams(params, {}, hparam_domain_discrete=None)
        for summary in (exp, ssi, sei):
            self.writer._get_file_writer().add_summary(summary)
        self.writer.add_text("config", _code_block(json.dumps(config, indent=2, default=str)), 0)
        self.writer.add_text(
            "metadata", _code_block(json.dumps(metadata, indent=2, default=str)), 0
        )

    def log_video(
        self, name: str, path: Path, gif: bytes, shape: tuple[int, ...], step: int
    ) -> None:
        from worldmodels.logger.video import add_gif_to_tensorboard

        add_gif_to_tensorboard(self.writer, name, gif, shape, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _code_block(text: str) -> str:
    """TensorBoard renders text as Markdown: indent four spaces so it shows verbatim."""
    return "\n".join("    " + line for line in text.splitlines())
