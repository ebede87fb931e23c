"""The open-loop video: every sampled sequence, labelled columns, context frames marked."""

from __future__ import annotations

import numpy as np
import torch

from worldmodels.logger.openloop import GREEN, RED, label_openloop, openloop_video


class SequenceAgent:
    """video_prediction of the first sequence of a batch: its frames filled with its id."""

    def video_prediction(self, batch):
        seq_id = int(batch["id"][0, 0])
        return torch.full((6, 16, 48, 3), 10 * (seq_id + 1), dtype=torch.uint8)  # [T, H, 3W, C]


def test_every_sequence_is_shown_and_context_is_marked():
    batch = {"id": torch.arange(3).view(3, 1).expand(3, 6), "is_first": torch.zeros(3, 6)}
    video = openloop_video(SequenceAgent(), batch)
    assert video is not None and video.dtype == np.uint8
    t, height, width, c = video.shape
    scale = 3  # 16 px frames are upscaled to 48
    header = height - 3 * 16 * scale
    assert (t, width, c) == (6, 48 * scale, 3) and header > 0
    truth = video[:, header:, 5]  # column 5 of the truth panel, [T, N*H, 3]
    for i in range(3):  # sequence i fills its own band of rows
        rows = truth[:, i * 48 + 5 : (i + 1) * 48 - 5]
        assert (rows == 10 * (i + 1)).all()
    model_edge = video[:, header + 10, 16 * scale]  # the model panel's left border
    context = min(5, t - 1)
    assert (model_edge[:context] == GREEN).all() and (model_edge[context:] == RED).all()
    assert video[:, :header].max() > 0  # the labels are drawn


def test_no_decoder_no_video():
    class NoVideo:
        def video_prediction(self, batch):
            return None

    assert openloop_video(NoVideo(), {"is_first": torch.zeros(2, 6)}) is None


def test_grayscale_frames_become_rgb():
    out = label_openloop(np.zeros((1, 4, 64, 192, 1), np.uint8), context=2)
    assert out.shape == (4, 30 + 64, 192, 3)
