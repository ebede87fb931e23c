"""Videos as GIFs: a file in the run dir and an animated image in TensorBoard.

TensorBoard's `add_video` needs moviepy; we encode the GIF with imageio (already a dependency) and
write the same Summary.Image proto that add_video writes.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np


def encode_gif(frames: np.ndarray, fps: int = 20) -> bytes:
    """uint8 [T, H, W, C] -> GIF bytes (looping)."""
    import imageio.v3 as iio

    if frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(
            f"video frames must be uint8 [T, H, W, C], got {frames.dtype} {frames.shape}"
        )
    buf = io.BytesIO()
    iio.imwrite(buf, frames, extension=".gif", duration=1000 / fps, loop=0)
    return buf.getvalue()


def write_gif(path: Path, frames: np.ndarray, fps: int = 20) -> bytes:
    """Writes frames as a GIF atomically; returns the encoded bytes."""
    data = encode_gif(frames, fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".gif.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return data


def add_gif_to_tensorboard(writer, tag: str, gif: bytes, shape: tuple[int, ...], step: int) -> None:
    """Adds an encoded GIF to a SummaryWriter as an image summary (TensorBoard animates it)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    _, h, w, c = shape
    image = Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=gif)
    writer._get_file_writer().add_summary(
        Summary(value=[Summary.Value(tag=tag, image=image)]), step
    )
