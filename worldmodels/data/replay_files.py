"""Replay persistence: the files `Replay.save` writes and `Replay.load` reads back.

A replay dir holds meta.json (format, spec, pointers, sampler state, per-file sizes and CRC32s)
and one raw file per row key (plus the transition-start ring), stream-major, written and read in
chunks of at most _CHUNK_BYTES through host memory; the dir is swapped in with renames, so a
failed save leaves the previous one as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = 1
META_FILE = "meta.json"
STARTS_FILE = "_starts.bin"
_CHUNK_BYTES = 64 << 20  # save/load stream through host memory in chunks this large


def _chunks(store: torch.Tensor, filled: int) -> Iterator[tuple[int, slice]]:
    """(stream, slot range) pieces of store[:, :filled], each at most _CHUNK_BYTES."""
    per_slot = max(store[0, 0].nbytes, 1)
    step = max(_CHUNK_BYTES // per_slot, 1)
    for env in range(store.shape[0]):
        for a in range(0, filled, step):
            yield env, slice(a, min(a + step, filled))


def chunk_bytes(store: torch.Tensor, filled: int) -> int:
    return store.shape[0] * filled * store[0, 0].nbytes


def write_chunks(path: Path, store: torch.Tensor, filled: int) -> dict[str, int]:
    """Raw bytes of store[:, :filled] (stream-major) to `path`; returns its size and CRC32."""
    crc = 0
    with open(path, "wb") as f:
        for env, part in _chunks(store, filled):
            data = store[env, part].cpu().numpy()
            view = np.ascontiguousarray(data).reshape(-1).view(np.uint8).data
            crc = zlib.crc32(view, crc)
            f.write(view)
        f.flush()
        os.fsync(f.fileno())
    return {"bytes": chunk_bytes(store, filled), "crc32": crc}


def read_chunks(path: Path, store: torch.Tensor, filled: int, crc32: int, write: bool) -> None:
    """Reads `path` back into store[:, :filled] (or only verifies it when write=False)."""
    crc = 0
    np_dtype = torch.empty((), dtype=store.dtype).numpy().dtype
    with open(path, "rb") as f:
        for env, part in _chunks(store, filled):
            buf = np.empty((part.stop - part.start, *store.shape[2:]), np_dtype)
            view = buf.reshape(-1).view(np.uint8).data
            if f.readinto(view) != len(view):
                raise ValueError(f"replay checkpoint {path} is truncated")
            crc = zlib.crc32(view, crc)
            if write:
                store[env, part] = torch.from_numpy(buf).to(store.device)
    if crc != crc32:
        raise ValueError(f"replay checkpoint {path} is corrupt (checksum mismatch)")


def write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def swap_in(tmp: Path, path: Path) -> None:
    """Replaces directory `path` by `tmp` with renames; the old one is restored if that fails."""
    if not path.exists():
        os.replace(tmp, path)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    old.rmdir()  # a fresh unused name for the rename
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise ValueError(f"replay checkpoint {path} not found (no {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(
            f"replay checkpoint {meta_path} is corrupt ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(
            f"replay checkpoint {meta_path} has an unknown format (expected format {FORMAT})"
        )
    return meta
