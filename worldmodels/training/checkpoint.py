"""Atomic checkpoints of everything a run needs to resume exactly.

Layout: RUN_DIR/checkpoint/{state.pt, replay/}. A new checkpoint is written to a fresh temp dir
beside it and swapped in by renames, so a crash at any point leaves the previous checkpoint whole:
nothing a user wrote is lost. state.pt holds the agent (nets, optimizers, schedules), counters,
clocks, RNG states, the pending env row and the resolved config; manifest.json records what the
checkpoint holds (frames, whether the replay was saved, whether it falls on an episode boundary).

Loading verifies every byte: state.pt (a zip written by torch.save) against its members' CRC32s,
which torch.load itself never checks, and the replay against its own checksums.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldmodels.errors import UserError

FORMAT = 1
STATE_FILE = "state.pt"
REPLAY_DIR = "replay"
MANIFEST_FILE = "manifest.json"
TEMP_PREFIX = ".checkpoint-"


class CheckpointError(UserError):
    """A checkpoint that is missing, corrupt, or from another config."""


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoint"


def has_checkpoint(run_dir: Path) -> bool:
    d = checkpoint_dir(run_dir)
    return (d / STATE_FILE).exists() or (d.with_name("checkpoint.old") / STATE_FILE).exists()


def save(
    run_dir: Path,
    state: dict[str, Any],
    replay: Any | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Writes state (and the replay, if given) as RUN_DIR/checkpoint, atomically; `info` goes
    into manifest.json beside them (with "replay": whether the replay was saved)."""
    run_dir = Path(run_dir)
    final = checkpoint_dir(run_dir)
    old = final.with_name("checkpoint.old")
    tmp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=run_dir))
    try:
        torch.save({"format": FORMAT, **state}, tmp / STATE_FILE)
        if replay is not None:
            replay.save(tmp / REPLAY_DIR)
        manifest = {"format": FORMAT, "written": time.time(), **(info or {}),
                    "replay": replay is not None}  # fmt: skip
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest))
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
    state = load_torch_file(final / STATE_FILE, "checkpoint")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {final / STATE_FILE} has an unknown format")
    return state, final


def load_torch_file(path: Path, what: str) -> Any:
    """torch.load of a file written by torch.save, after checking every member's CRC32 (a
    garbled byte would otherwise load as a wrong number). CheckpointError (one line) if the file
    is missing, truncated or garbled."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise CheckpointError(
            f"{what} {path} is corrupt or truncated ({type(err).__name__}: {err})"
        ) from err
    if bad is not None:
        raise CheckpointError(f"{what} {path} is corrupt: member {bad} fails its CRC32 check")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for garbled files
        raise CheckpointError(
            f"{what} {path} is corrupt or unreadable ({type(err).__name__}: {err})"
        ) from err


def read_manifest(ckpt_dir: Path) -> dict[str, Any]:
    """manifest.json of a checkpoint dir ({} for checkpoints written before it existed)."""
    path = Path(ckpt_dir) / MANIFEST_FILE
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CheckpointError(f"checkpoint manifest {path} is corrupt ({err})") from err
    if not isinstance(manifest, dict):
        raise CheckpointError(f"checkpoint manifest {path} is corrupt (not a JSON object)")
    return manifest


def remove_stale_temp(run_dir: Path) -> list[Path]:
    """Removes what a killed `save` left behind (.checkpoint-* temp dirs, *.tmp files); returns
    what it removed. Call only when no other process writes this run dir."""
    run_dir = Path(run_dir)
    stale = [*run_dir.glob(TEMP_PREFIX + "*"), *run_dir.glob("*.tmp")]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale


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
