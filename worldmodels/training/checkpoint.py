"""Atomic checkpoints of everything a run needs to resume exactly.

Layout: RUN_DIR/checkpoint/{state.pt, replay/}. A new checkpoint is written to a fresh temp dir
beside it and swapped in by renames, so a crash at any point leaves the previous checkpoint whole:
nothing a user wrote is lost. state.pt holds the agent (nets, optimizers, schedules), counters,
clocks, RNG states, the pending env row and the resolved config.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = 1
STATE_FILE = "state.pt"
REPLAY_DIR = "replay"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or from another config."""


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoint"


def has_checkpoint(run_dir: Path) -> bool:
    d = checkpoint_dir(run_dir)
    return (d / STATE_FILE).exists() or (d.with_name("checkpoint.old") / STATE_FILE).exists()


def save(run_dir: Path, state: dict[str, Any], replay: Any | None = None) -> Path:
    """Writes state (and the replay, if given) as RUN_DIR/checkpoint, atomically."""
    run_dir = Path(run_dir)
    final = checkpoint_dir(run_dir)
    old = final.with_name("checkpoint.old")
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoint-", dir=run_dir))
    try:
        torch.save({"format": FORMAT, **state}, tmp / STATE_FILE)
        if replay is not None:
            replay.save(tmp / REPLAY_DIR)
        if final.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(final, old)
        os.replace(tmp, final)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load(run_dir: Path) -> tuple[dict[str, Any], Path]:
    """Loads RUN_DIR/checkpoint/state.pt; returns (state, checkpoint dir). A crash between the two
    renames of `save` leaves only checkpoint.old, which is then used."""
    final = checkpoint_dir(run_dir)
    if not (final / STATE_FILE).exists():
        old = final.with_name("checkpoint.old")
        if (old / STATE_FILE).exists():
            final = old
        else:
            raise CheckpointError(f"no checkpoint in {run_dir} (expected {final / STATE_FILE})")
    try:
        state = torch.load(final / STATE_FILE, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for truncated/garbled files
        raise CheckpointError(
            f"checkpoint {final / STATE_FILE} is corrupt or unreadable "
            f"({type(err).__name__}: {err})"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {final / STATE_FILE} has an unknown format")
    return state, final


def check_compatible(saved: dict[str, Any], current: dict[str, Any], what: str) -> None:
    """Raises CheckpointError naming every key whose value differs between two flat dicts."""
    keys = sorted(set(saved) | set(current))
    diff = [k for k in keys if saved.get(k) != current.get(k)]
    if diff:
        shown = ", ".join(
            f"{k}: {saved.get(k)!r} in checkpoint vs {current.get(k)!r} now" for k in diff[:5]
        )
        more = f" (+{len(diff) - 5} more)" if len(diff) > 5 else ""
        raise CheckpointError(f"checkpoint is from another {what}: {shown}{more}")


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) RNG states."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
