"""`make train` without CUDA: what runs, how long on a CPU, and a CPU-sized command instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from worldmodels.training.cpu_notice import CPU_RUN, notice

ROOT = Path(__file__).resolve().parents[2]


def test_default_run_on_a_cpu_says_weeks_and_offers_a_cpu_run():
    text = notice([], cuda=False)
    assert "DreamerAgent on dmc:walker_walk (pixels), size s, 1,000,000 env frames" in text
    # (1M - 2500 prefill) / repeat 2 * ratio 512 / (16 x 64 rows) updates at 21 s each
    assert "249,375 updates" in text and "60.6 days on one CPU core" in text
    assert CPU_RUN in text and "trainer=debug" in text


def test_the_cpu_run_it_offers_is_cpu_sized():
    overrides = CPU_RUN.split('ARGS="', 1)[1].rstrip('"').split()
    text = notice(overrides, cuda=False)
    assert "size xs" in text and "36.5 minutes" in text


def test_with_cuda_it_only_says_what_runs():
    text = notice(["agent=sac", "env=gym", "env.task=Pendulum-v1"], cuda=True)
    assert text.startswith("about to run: python -m worldmodels.train agent=sac")
    assert "CPU" not in text


def test_make_train_prints_the_notice_before_training_without_a_prompt():
    dry = subprocess.run(["make", "-n", "train", "ARGS=seed=1"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.splitlines()  # fmt: skip
    notice_at = next(i for i, l in enumerate(dry) if "worldmodels.training.cpu_notice seed=1" in l)
    train_at = next(i for i, l in enumerate(dry) if "-m worldmodels.train seed=1" in l)
    assert notice_at < train_at
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-m", "worldmodels.training.cpu_notice", "seed=1"],
                         stdin=subprocess.DEVNULL, env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0 and "estimated: 60.6 days" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "worldmodels.training.cpu_notice", "nope=1"],
                         env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 0 and bad.stdout == ""  # the training command reports the error
