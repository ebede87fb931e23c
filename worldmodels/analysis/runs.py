"""Find and load run directories written by the training loop.

A run dir holds `config.yaml` (the resolved config), `overrides.yaml` (the Hydra override strings;
Hydra's own `.hydra/overrides.yaml` is the fallback), `metrics.jsonl` (one JSON object per log
event, each with "env_frames") and `status.json` ({"state", "env_frames", "target_frames", "pid",
"host", "heartbeat"}; a "running" run whose process is gone or whose heartbeat stopped is "dead").

Nothing is dropped silently: a directory that looks like a run but lacks a piece, a run whose
status says it failed or that is still running, and unreadable metric lines all become `Issue`s,
which the report lists next to its tables.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from worldmodels.training.status import liveness

RunState = Literal["done", "running", "stopped", "preempted", "failed", "dead", "unknown"]
IssueKind = Literal["missing", "partial", "running", "failed", "excluded", "unnormalized"]

RUN_FILES = ("metrics.jsonl", "config.yaml")
# Any of these in a directory means "a run was meant to be here" (so its absence of the others is
# reported as a missing/partial run instead of being ignored).
RUN_MARKERS = ("metrics.jsonl", "config.yaml", "overrides.yaml", "status.json")
# Sub-directories of a run dir that never hold other runs; not walked.
RUN_SUBDIRS = {"tb", "videos", "checkpoint", ".hydra", "__pycache__"}
X_KEY = "env_frames"
# A "running" run whose files have not changed for this long is flagged as possibly dead.
STALE_HOURS = 1.0


@dataclass(frozen=True)
class Issue:
    """One problem the report must show: `kind` is a short category, `detail` says what and why."""

    path: str
    kind: IssueKind
    detail: str


@dataclass
class Run:
    """One training run: its config, overrides and metric records (in file order)."""

    path: Path
    config: dict[str, Any]
    overrides: list[str]
    records: list[dict[str, Any]]
    state: RunState = "unknown"
    target_frames: int | None = None
    status_frames: int | None = None
    bad_lines: int = 0
    metric_keys: set[str] = field(default_factory=set)

    @property
    def seed(self) -> int | None:
        seed = self.config.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool):
            return seed
        if isinstance(seed, str) and seed.lstrip("-").isdigit():
            return int(seed)
        return None

    @property
    def suite(self) -> str:
        env = self.config.get("env") or {}
        return str(env.get("suite", "unknown")) if isinstance(env, dict) else "unknown"

    @property
    def task(self) -> str:
        env = self.config.get("env") or {}
        return str(env.get("task", "unknown")) if isinstance(env, dict) else "unknown"

    @cached_property
    def env_frames(self) -> int:
        """Frames reached: the larger of status.json's count and the last logged one."""
        logged = max((int(r[X_KEY]) for r in self.records if X_KEY in r), default=0)
        return max(logged, self.status_frames or 0)

    def curve(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(env_frames [N], values [N]) of every finite logged value of `metric`, by frames."""
        xs, ys = [], []
        for r in self.records:
            v = r.get(metric)
            if isinstance(v, int | float) and X_KEY in r and np.isfinite(v):
                xs.append(float(r[X_KEY]))
                ys.append(float(v))
        x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        order = np.argsort(x, kind="stable")
        return x[order], y[order]


def _read_yaml(path: Path) -> Any:
    with path.open() as f:
        return yaml.safe_load(f)


def _read_overrides(run_dir: Path) -> list[str] | None:
    for path in (run_dir / "overrides.yaml", run_dir / ".hydra" / "overrides.yaml"):
        if path.is_file():
            data = _read_yaml(path) or []
            if not isinstance(data, list):
                raise ValueError(
                    f"{path}: expected a YAML list of override strings, got {type(data).__name__}"
                )
            return [str(o) for o in data]
    return None


def _read_metrics(path: Path) -> tuple[list[dict[str, Any]], int]:
    """All JSON objects in `path`, and the count of lines that could not be parsed (e.g. a line
    cut short by a crash or caught mid-write)."""
    records, bad = [], 0
    with path.open() as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(obj, dict):
                records.append(obj)
            else:
                bad += 1
    return records, bad


def load_run(run_dir: Path) -> tuple[Run, list[Issue]]:
    """Load one run dir (must hold metrics.jsonl and config.yaml) and the issues found in it."""
    issues: list[Issue] = []
    where = str(run_dir)
    config = _read_yaml(run_dir / "config.yaml") or {}
    if not isinstance(config, dict):
        raise ValueError(
            f"{run_dir / 'config.yaml'}: expected a mapping, got {type(config).__name__}"
        )
    overrides = _read_overrides(run_dir)
    if overrides is None:
        issues.append(
            Issue(where, "partial", "no overrides.yaml: grouped as if run with no overrides")
        )
        overrides = []
    records, bad = _read_metrics(run_dir / "metrics.jsonl")
    run = Run(path=run_dir, config=config, overrides=overrides, records=records, bad_lines=bad)
    run.metric_keys = {k for r in records for k in r}
    status_path = run_dir / "status.json"
    status: dict[str, Any] = {}
    if status_path.is_file():
        try:
            status = json.loads(status_path.read_text())
        except json.JSONDecodeError:
            status = {}
            issues.append(Issue(where, "partial", "status.json is not valid JSON"))
        state = status.get("state", "unknown")
        known = ("done", "running", "stopped", "preempted", "failed")
        run.state = state if state in known else "unknown"
        if run.state == "running" and liveness(status) == "dead":
            run.state = "dead"
        run.target_frames = status.get("target_frames")
        run.status_frames = status.get("env_frames")
    else:
        issues.append(Issue(where, "partial", "no status.json: state unknown"))
    if bad:
        issues.append(Issue(where, "partial", f"skipped {bad} unreadable line(s) in metrics.jsonl"))
    if not records:
        issues.append(Issue(where, "partial", "metrics.jsonl holds no records"))
    frames = run.env_frames
    progress = f"{format_frames(frames)} of {format_frames(run.target_frames)} frames"
    if run.state == "running":
        # A run killed without a chance to say so (OOM, preemption) stays "running" forever.
        idle_h = (time.time() - max(p.stat().st_mtime for p in run_dir.glob("*.json*"))) / 3600
        stale = f"; nothing written for {idle_h:.1f} h: dead?" if idle_h > STALE_HOURS else ""
        issues.append(Issue(where, "running", f"still running: {progress}{stale}"))
    elif run.state == "dead":  # killed without a chance to say so (kill -9, OOM, node failure)
        issues.append(
            Issue(
                where,
                "partial",
                f"died at {progress} (pid {status.get('pid')} on {status.get('host')} is gone or "
                "silent; resume=true continues from its last checkpoint)",
            )
        )
    elif run.state == "preempted":  # SIGTERM/SIGINT: checkpointed at a safe point
        issues.append(Issue(where, "partial", f"preempted at {progress} (resume=true continues)"))
    elif run.state == "failed":
        issues.append(Issue(where, "failed", f"failed at {progress}"))
    elif run.state == "stopped":  # trainer.stop_after: a time slice ended; resume=true continues
        issues.append(Issue(where, "partial", f"stopped at {progress} (resume=true continues)"))
    elif run.state == "done" and run.target_frames and frames < run.target_frames:
        issues.append(Issue(where, "partial", f"done but reached {progress}"))
    if run.seed is None:
        issues.append(Issue(where, "partial", "config.yaml has no integer 'seed'"))
    return run, issues


def format_frames(n: int | None) -> str:
    """1500 -> '1.5k', 1000000 -> '1M', None -> '?'."""
    if n is None:
        return "?"
    if n >= 1_000_000:
        return f"{n / 1e6:.3g}M"
    if n >= 1_000:
        return f"{n / 1e3:.3g}k"
    return str(n)


def discover_runs(dirs: list[str | Path]) -> tuple[list[Run], list[Issue]]:
    """Every run dir under `dirs` (recursively), plus the issues found.

    A directory holding metrics.jsonl and config.yaml is a run; one holding only some of the run
    files, or a Hydra job dir (`.hydra/`) with none of them (a job that died before the loop
    started), is reported as `missing`. Raises ValueError when a dir does not exist or nothing
    run-like is found at all.
    """
    runs: list[Run] = []
    issues: list[Issue] = []
    seen: set[Path] = set()  # overlapping dirs (a sweep and one of its runs) list a run once
    for root in dirs:
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"run dir {str(root)!r} does not exist or is not a directory")
        for here, subdirs, files in os.walk(root, followlinks=False):
            path = Path(here)
            present = set(files)
            if path.resolve() in seen:
                subdirs[:] = []
                continue
            seen.add(path.resolve())
            if all(f in present for f in RUN_FILES):
                run, found = load_run(path)
                runs.append(run)
                issues.extend(found)
                subdirs[:] = []
                continue
            markers = [f for f in RUN_MARKERS if f in present]
            if markers:
                lacking = [f for f in RUN_FILES if f not in present]
                issues.append(
                    Issue(
                        str(path),
                        "missing",
                        f"has {', '.join(markers)} but no {', '.join(lacking)} "
                        "(just started, or died early)",
                    )
                )
                subdirs[:] = []
                continue
            if ".hydra" in subdirs:
                issues.append(
                    Issue(
                        str(path),
                        "missing",
                        "Hydra job dir with no metrics.jsonl/config.yaml "
                        "(job died before training?)",
                    )
                )
            # hidden dirs (.aborted/, .submitit/, checkpoint temp dirs) never hold runs
            subdirs[:] = sorted(d for d in subdirs if d not in RUN_SUBDIRS and d[:1] != ".")
    if not runs:
        where = ", ".join(str(d) for d in dirs)
        raise ValueError(
            f"no runs found under {where}: a run dir holds metrics.jsonl and config.yaml"
        )
    runs.sort(key=lambda r: str(r.path))
    return runs, issues
