"""What `worldmodels.evaluate` writes: the JSON summary, a CSV with one row per episode, and the
episodes' videos (MP4 through imageio-ffmpeg, or GIF), each written atomically."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

VIDEO_FORMATS = ("mp4", "gif")


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Atomically writes `payload` as indented JSON."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)
    return path


def write_episode_csv(
    path: Path, seeds: list[int], returns: list[float], lengths: list[int]
) -> Path:
    """One row per episode: episode index, env seed, return, length."""
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["episode", "seed", "return", "length"])
        for k, (seed, ret, length) in enumerate(zip(seeds, returns, lengths, strict=True)):
            writer.writerow([k, seed, f"{ret:.6g}", length])
    os.replace(tmp, path)
    return path


def write_video(path_stem: Path, frames: np.ndarray, fmt: str, fps: int = 30) -> Path:
    """uint8 frames [T, H, W, C] -> PATH_STEM.mp4 (H.264 through imageio-ffmpeg) or .gif."""
    if fmt not in VIDEO_FORMATS:
        raise ValueError(f"video_format={fmt!r}; valid: {', '.join(VIDEO_FORMATS)}")
    if frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(
            f"video frames must be uint8 [T, H, W, C], got {frames.dtype} {frames.shape}"
        )
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "gif":
        from worldmodels.logger.video import write_gif

        path = path_stem.with_suffix(".gif")
        write_gif(path, frames, fps=fps)
        return path
    import imageio.v3 as iio

    path = path_stem.with_suffix(".mp4")
    tmp = path_stem.with_name(path_stem.name + ".tmp.mp4")
    try:
        # macro_block_size 1: keep 64x64 frames as they are (ffmpeg would pad to multiples of 16)
        iio.imwrite(tmp, frames, fps=fps, codec="libx264", macro_block_size=1)
    except (ImportError, RuntimeError, OSError) as err:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(
            f"could not write {path} ({err}); install imageio-ffmpeg or use video_format=gif"
        ) from err
    os.replace(tmp, path)
    return path
