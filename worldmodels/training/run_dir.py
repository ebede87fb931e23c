"""Getting a run dir ready: a fresh start or a resume, never a silent mix of two runs.

- `check_writable`: a read-only or unusable dir fails with one line before anything runs.
- `check_not_in_use`: a dir a live process is writing (status.json pid + heartbeat) is refused.
- `set_aside`: files of an earlier run that never wrote a checkpoint (it died during its
  prefill) are moved to RUN_DIR/.aborted/<time>/ before a fresh start, so the new run's
  metrics.jsonl and overrides.yaml are its own.
- `trim_metrics`: on resume, metrics lines written after the checkpoint (and a line cut short by
  a kill) are dropped: the resumed run writes them again, each exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worldmodels.config.resume import (
    FLAG_KEYS,
    OPTIMIZER_FLAG,
    check_resume_changes,
    config_changes,
    is_optimizer_key,
    record_resume,
    resume_kind,
)
from worldmodels.errors import UserError
from worldmodels.training.status import liveness, read_status

#: What a run writes into its dir (the checkpoint aside).
RUN_FILES = ("metrics.jsonl", "config.yaml", "overrides.yaml", "status.json", "resumes.jsonl",
             "world_model.pt", "tb", "videos", "train.log", "metadata.json", "metrics.csv",
             "wandb", "wandb_run_id", "mlruns", "mlflow_run_id")  # fmt: skip
ASIDE_DIR = ".aborted"


def check_writable(run_dir: Path) -> None:
    """Creates `run_dir` and writes a probe file; UserError (one line) when it cannot."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UserError(
            f"cannot write to run dir {run_dir} ({err.strerror or type(err).__name__}); "
            "pick a writable run_dir=..."
        ) from err


def check_not_in_use(run_dir: Path) -> None:
    """UserError when another live process is writing `run_dir`."""
    status = read_status(run_dir)
    if status.get("state") != "running" or status.get("pid") == os.getpid():
        return
    if liveness(status) == "alive":
        raise UserError(
            f"run dir {run_dir} is in use by a running process (pid {status.get('pid')} on "
            f"{status.get('host')}, heartbeat {time.time() - status['heartbeat']:.0f} s ago); "
            "wait for it or pick another run_dir=..."
        )


def set_aside(run_dir: Path) -> Path | None:
    """Moves an earlier run's files (one that never checkpointed) out of the way; returns where
    they went, or None when there was nothing to move."""
    present = [run_dir / name for name in RUN_FILES if (run_dir / name).exists()]
    if not present:
        return None
    aside = run_dir / ASIDE_DIR / time.strftime("%Y%m%d-%H%M%S")
    n = 0
    while aside.exists():
        n += 1
        aside = aside.with_name(f"{aside.name.split('.')[0]}.{n}")
    aside.mkdir(parents=True)
    for path in present:
        shutil.move(str(path), str(aside / path.name))
    print(
        f"{run_dir} held a run that never wrote a checkpoint: its files moved to {aside}; "
        "starting afresh",
        flush=True,
    )
    return aside


def trim_metrics(run_dir: Path, env_frames: int) -> int:
    """Drops metrics.jsonl lines past `env_frames` (written after the checkpoint being resumed)
    and unreadable ones; returns how many lines it dropped."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return 0
    keep, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
            frames = int(record["env_frames"])
        except (ValueError, KeyError, TypeError):
            dropped += 1
            continue
        if frames > env_frames:
            dropped += 1
        else:
            keep.append(line)
    if dropped:
        tmp = path.with_name(f"metrics.jsonl.{socket.gethostname()}-{os.getpid()}.tmp")
        tmp.write_text("".join(line + "\n" for line in keep))
        os.replace(tmp, path)
        print(
            f"resume: dropped {dropped} metrics line(s) written after the checkpoint at "
            f"{env_frames} frames (they are written again)",
            flush=True,
        )
    return dropped


@dataclass
class Start:
    """How a run starts: from scratch (`state` None) or from the checkpoint `state` in
    `ckpt_dir`, with the config changes the resume applies."""

    state: dict[str, Any] | None = None
    ckpt_dir: Path | None = None
    applied: dict[str, tuple] = field(default_factory=dict)
    nothing_to_do: bool = False

    @property
    def env_frames(self) -> int:
        return int(self.state["counters"]["env_frames"]) if self.state is not None else 0

    @property
    def new_optimizer_settings(self) -> bool:
        return any(is_optimizer_key(k) for k in self.applied)


def prepare(run_dir: Path, config: dict[str, Any], overrides: list[str] | None) -> Start:
    """Checks and readies `run_dir` for the (validated, plain) `config`: a fresh start refuses a
    dir holding a checkpoint and sets aside a run that never wrote one; a resume loads the
    checkpoint, applies or refuses the config changes, and drops metrics lines written after
    it. Writes config.yaml (and overrides.yaml when fresh). Raises UserError/CheckpointError."""
    from omegaconf import OmegaConf

    from worldmodels.training import checkpoint

    check_writable(run_dir)
    check_not_in_use(run_dir)
    removed = checkpoint.remove_stale_temp(run_dir)
    if removed:
        print(f"removed {len(removed)} leftover temp file(s) of a killed run in {run_dir}")
    start = Start()
    if resume_kind(config.get("resume")) != "no":
        if not checkpoint.has_checkpoint(run_dir):
            hint = (
                " (its earlier run never wrote one)" if (run_dir / "metrics.jsonl").exists() else ""
            )
            raise checkpoint.CheckpointError(
                f"no checkpoint in {run_dir}{hint}; run without resume=... to start it afresh"
            )
        start.state, start.ckpt_dir = checkpoint.load(run_dir)
        changes = config_changes(start.state["config"], config)
        try:
            start.applied = check_resume_changes(
                changes, allow_optimizer=bool(config.get(OPTIMIZER_FLAG))
            )
        except UserError as err:  # the checkpoint is from another config
            raise checkpoint.CheckpointError(str(err)) from err
        trainer = config["trainer"]
        end = min(trainer["steps"], trainer.get("stop_after") or trainer["steps"])
        if start.env_frames >= end:
            limit = (
                f"trainer.stop_after={trainer['stop_after']}"
                if end < trainer["steps"]
                else f"trainer.steps={trainer['steps']}"
            )
            print(
                f"{run_dir}: already at {start.env_frames} frames ({limit}), nothing to do; "
                "raise trainer.steps (or trainer.stop_after) to continue",
                flush=True,
            )
            start.nothing_to_do = True
            return start
        trim_metrics(run_dir, start.env_frames)
        flags = {k: config[k] for k in FLAG_KEYS if k.startswith("resume_") and config.get(k)}
        if start.applied or flags:
            record_resume(run_dir, start.env_frames, start.applied, flags)
    else:
        if checkpoint.has_checkpoint(run_dir):
            raise UserError(
                f"{run_dir} already holds a run; add resume=true to continue it, "
                "or pick another run_dir=..."
            )
        if any((run_dir / name).exists() for name in ("metrics.jsonl", "tb", "videos")):
            set_aside(run_dir)
        for name in ("status.json", "resumes.jsonl", "world_model.pt"):
            (run_dir / name).unlink(missing_ok=True)
        if overrides is not None:
            OmegaConf.save(OmegaConf.create(list(overrides)), run_dir / "overrides.yaml")
    OmegaConf.save(OmegaConf.create(config), run_dir / "config.yaml")
    return start
