"""Shared test setup: single-threaded torch (CI has 2 cores), headless MuJoCo, small helpers."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def run_overrides(tmp_path):
    """Overrides every end-to-end test starts from: debug clocks, CPU, quiet, a tmp run dir."""

    def make(*extra: str, name: str = "run") -> list[str]:
        return [
            "trainer=debug",
            "device=cpu",
            "logger.progress=false",
            f"run_dir={tmp_path / name}",
            *extra,
        ]

    return make
