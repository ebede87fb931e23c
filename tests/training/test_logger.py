"""Metrics: device-side means read once, jsonl lines with counters, GIF videos."""

import json

import numpy as np
import torch

from worldmodels.logger.metrics import Logger, MetricMean, non_finite


def test_metric_mean_averages_and_resets():
    m = MetricMean()
    m.add({"a": torch.tensor(1.0), "b": 2.0})
    m.add({"a": torch.tensor(3.0)})
    assert m.read() == {"a": 2.0, "b": 2.0}
    assert m.read() == {}


def test_non_finite_names_bad_terms():
    assert non_finite({"x": 1.0, "y": float("nan"), "z": float("inf")}) == ["y", "z"]


def test_logger_writes_jsonl_tensorboard_and_gif(tmp_path):
    log = Logger(tmp_path, tensorboard=True, console=False)
    log.log({"env_frames": 10, "policy_steps": 5, "grad_steps": 1}, {"episode/return": 3.5})
    frames = np.random.default_rng(0).integers(0, 255, (6, 16, 16, 3), dtype=np.uint8)
    gif = log.video("eval/policy", frames, 10)
    log.close()
    rec = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert rec["env_frames"] == 10 and rec["grad_steps"] == 1 and rec["episode/return"] == 3.5
    assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    assert any((tmp_path / "tb").iterdir())
