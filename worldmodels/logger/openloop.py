"""The world model's open-loop video as a researcher reads it: every sampled sequence, each frame
labelled truth | model | error, the context frames (observed) told apart from the open-loop ones
(imagined from the first state after them, with the sequence's own actions).

    video = openloop_video(agent, batch)   # uint8 [T, header + N * H, 3W, C], or None

The agent's `video_prediction` predicts the first sequence of a batch (uint8 [T, H, 3W, C]); this
calls it once per sequence, stacks the sequences top to bottom (einops) and draws the labels
(Pillow). Frames under 48 px are upscaled (nearest) so the labels fit; 64 px frames stay as they
are (the GIF of 4 sequences x 64 frames is about 2 MB).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from einops import rearrange, repeat

#: Context frames of the agents' open-loop prediction (Dreamer and the planners observe
#: min(5, T - 1) frames, then imagine): the frames drawn as "context".
CONTEXT = 5
COLUMNS = ("truth", "model", "error")
GREEN, RED, WHITE = (40, 170, 60), (210, 50, 40), (255, 255, 255)


def context_frames(length: int) -> int:
    return min(CONTEXT, length - 1)


def openloop_video(agent: Any, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
    """Every sequence of `batch` predicted open loop and labelled; None when the agent has no
    video prediction (no image decoder)."""
    n = int(batch["is_first"].shape[0])
    videos = []
    with torch.no_grad():
        for i in range(n):
            video = agent.video_prediction({k: v[i : i + 1] for k, v in batch.items()})
            if video is None:
                return None
            videos.append(video.to("cpu").numpy())  # [T, H, 3W, C]
    return label_openloop(np.stack(videos), context_frames(videos[0].shape[0]))


def label_openloop(videos: np.ndarray, context: int) -> np.ndarray:
    """uint8 [N, T, H, 3W, C] (truth | model | error = |truth - model| side by side) -> uint8
    [T, H', W', 3]: the N sequences stacked, a header naming the columns and the frame ("context"
    / "open loop"), and a green (context) or red (open loop) frame around each model panel."""
    from PIL import Image, ImageDraw

    n, t, h, w3, c = videos.shape
    if c == 1:
        videos = repeat(videos, "n t h w 1 -> n t h w 3")
    scale = max(1, -(-48 // h))  # nearest upscale of small frames (16 px -> 48): labels fit
    videos = repeat(videos[..., :3], "n t h w c -> n t (h s1) (w s2) c", s1=scale, s2=scale)
    h, w3, w = h * scale, w3 * scale, (w3 // 3) * scale
    videos = videos.copy()
    for k in range(t):
        color = GREEN if k < context else RED
        model = videos[:, k, :, w : 2 * w]  # [N, H, W, 3], a view: the frame is drawn in place
        model[:, :2], model[:, -2:] = color, color
        model[:, :, :2], model[:, :, -2:] = color, color
    grid = rearrange(videos, "n t h w c -> t (n h) w c")  # sequences top to bottom
    header_h = 30
    out = np.zeros((t, header_h + grid.shape[1], w3, 3), np.uint8)
    out[:, header_h:] = grid
    for k in range(t):
        image = Image.fromarray(out[k])
        draw = ImageDraw.Draw(image)
        for j, name in enumerate(COLUMNS):
            draw.text((j * w + 3, 2), name, fill=WHITE)
        phase = "context (observed)" if k < context else "open loop (imagined)"
        draw.text((3, 16), f"{k + 1}/{t} {phase}", fill=GREEN if k < context else RED)
        for i in range(1, n):  # a line between sequences
            y = header_h + i * h
            draw.line([(0, y), (w3, y)], fill=WHITE, width=1)
        out[k] = np.asarray(image)
    return out
