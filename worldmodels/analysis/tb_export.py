"""Put a report into TensorBoard (REPORT_DIR/tb): the tables as text, the figures as images and
each group's mean curve per task as scalars (so groups can be overlaid interactively)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np

from worldmodels.analysis.summary import Summary


def log_report(
    summary: Summary, figures: dict[str, list[Path]], texts: dict[str, str], log_dir: Path
) -> Path:
    """Write text (`texts`: tag -> markdown), the PNG of every figure and the mean curves to an
    event file under `log_dir`; returns `log_dir`."""
    # Imported here: torch is heavy and only this optional output needs it.
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for tag, text in texts.items():
            writer.add_text(f"report/{tag}", text, 0)
        for name, paths in figures.items():
            png = next((p for p in paths if p.suffix == ".png"), None)
            if png is None:
                continue
            img = mpimg.imread(png)  # [H, W, 3|4] float in [0, 1]
            writer.add_image(
                f"figures/{name}", np.ascontiguousarray(img[..., :3]), 0, dataformats="HWC"
            )
        for cell in summary.cells:
            for x, y in zip(cell.band.frames, cell.band.mean):
                if np.isfinite(y):
                    writer.add_scalar(f"curves/{cell.task}/{cell.group}", float(y), int(x))
    finally:
        writer.close()
    return log_dir
