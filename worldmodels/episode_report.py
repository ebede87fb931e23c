"""What an evaluation command writes: a JSON summary (mean return with a 95% interval), a CSV with
one row per episode, and the episodes' videos (MP4 through imageio-ffmpeg, or GIF).

Shared by `worldmodels.evaluate` (a run's own agent, or a planner on its world model); the
interval is the percentile bootstrap of the mean over episodes (analysis.aggregate), the same
estimator the comparison table and the report use.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: below this many episodes a 95% interval of the mean says little (a warning is printed)
MIN_EPISODES_FOR_CI = 5
VIDEO_FORMATS = ("mp4", "gif")


def summarize(returns: list[float], lengths: list[int], quiet: bool = False) -> dict[str, Any]:
    """Mean, standard deviation and bootstrap 95% interval of the episode returns. One episode
    has no interval (None); fewer than MIN_EPISODES_FOR_CI get one with a warning on stderr."""
    from worldmodels.analysis.aggregate import bootstrap_mean_ci

    n = len(returns)
    if n == 0:
        raise ValueError("no episodes to summarize")
    values = np.asarray(returns, np.float64)
    ci: list[float] | None = None
    if n >= 2:
        lo, hi = bootstrap_mean_ci(values)
        ci = [lo, hi]
    if n < MIN_EPISODES_FOR_CI and not quiet:
        print(
            f"warning: {n} episode(s): a 95% interval needs at least {MIN_EPISODES_FOR_CI} to "
            "mean much (episodes=N runs more)",
            file=sys.stderr,
            flush=True,
        )
    return {
        "episodes": n,
        "return_mean": float(values.mean()),
        "return_ci95": ci,
        "return_std": float(values.std()),
        "length_mean": float(np.mean(lengths)),
        "returns": [float(r) for r in returns],
        "lengths": [int(x) for x in lengths],
    }


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
