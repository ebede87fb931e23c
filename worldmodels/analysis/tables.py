"""Tables of a summary, as CSV (raw numbers, one column per quantity) and markdown (rounded,
intervals written as `mean [lo, hi]`): per task, aggregate, per run, issues, references."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worldmodels.analysis.aggregate import AGGREGATE_METRICS
from worldmodels.analysis.reference import Reference
from worldmodels.analysis.runs import format_frames
from worldmodels.analysis.summary import Summary


@dataclass
class Table:
    """Column names and rows of plain values (str, int, float, None)."""

    columns: list[str]
    rows: list[list[Any]]


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v).replace("|", "\\|")


def _ci(mean: float, lo: float, hi: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}]"


def to_markdown(table: Table) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in table.rows]
    return "\n".join(lines)


def write_csv(table: Table, path: Path) -> Path:
    """Write `table` as CSV (empty cell for None)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table.columns)
        writer.writerows([["" if v is None else v for v in row] for row in table.rows])
    return path


def _frames_range(lo: int, hi: int) -> str:
    return format_frames(lo) if lo == hi else f"{format_frames(lo)}-{format_frames(hi)}"


def task_table(summary: Summary, markdown: bool = False) -> Table:
    """One row per (group, task): seeds, final-score mean with its 95% bootstrap interval over
    seeds, normalized mean, frames reached, run states."""
    name = f"final {summary.metric}"
    if markdown:
        cols = ["group", "task", "n seeds", f"{name} [95% CI]", "normalized", "frames", "state"]
        rows = [
            [
                c.group,
                c.task,
                c.n,
                _ci(c.mean, c.lo, c.hi),
                c.score_mean,
                _frames_range(c.frames_min, c.frames_max),
                c.state,
            ]
            for c in summary.cells
        ]
        return Table(cols, rows)
    cols = [
        "group",
        "task",
        "n_seeds",
        "seeds",
        "mean",
        "ci_low",
        "ci_high",
        "normalized_mean",
        "frames_min",
        "frames_max",
        "state",
    ]
    rows = [
        [
            c.group,
            c.task,
            c.n,
            " ".join(map(str, c.seeds)),
            c.mean,
            c.lo,
            c.hi,
            c.score_mean,
            c.frames_min,
            c.frames_max,
            c.state,
        ]
        for c in summary.cells
    ]
    return Table(cols, rows)


def aggregate_table(summary: Summary, markdown: bool = False) -> Table:
    """One row per group: IQM, median, mean, optimality gap with 95% stratified-bootstrap
    intervals over `summary.agg_tasks`."""
    groups = [g for g in summary.groups if g in summary.agg_points]
    if markdown:
        cols = ["group", "tasks", "runs/task", *(f"{m} [95% CI]" for m in AGGREGATE_METRICS)]
        rows = []
        for g in groups:
            p, ci = summary.agg_points[g], summary.agg_intervals[g]
            n_runs, n_tasks = summary.agg_shape[g]
            rows.append(
                [
                    g,
                    n_tasks,
                    n_runs,
                    *(_ci(p[i], ci[0, i], ci[1, i]) for i in range(len(AGGREGATE_METRICS))),
                ]
            )
        return Table(cols, rows)
    cols = ["group", "n_tasks", "runs_per_task"]
    for m in AGGREGATE_METRICS:
        key = m.lower().replace(" ", "_")
        cols += [key, f"{key}_low", f"{key}_high"]
    rows = []
    for g in groups:
        p, ci = summary.agg_points[g], summary.agg_intervals[g]
        n_runs, n_tasks = summary.agg_shape[g]
        row: list[Any] = [g, n_tasks, n_runs]
        for i in range(len(AGGREGATE_METRICS)):
            row += [float(p[i]), float(ci[0, i]), float(ci[1, i])]
        rows.append(row)
    return Table(cols, rows)


def run_table(summary: Summary) -> Table:
    """One row per run: where it is, its group/task/seed, state, frames, final and normalized
    score, and whether the scores use it."""
    cols = [
        "group",
        "task",
        "seed",
        "state",
        "env_frames",
        "target_frames",
        "final",
        "normalized",
        "used",
        "path",
    ]
    rows = [
        [
            rs.group,
            rs.run.task,
            rs.run.seed,
            rs.run.state,
            rs.run.env_frames,
            rs.run.target_frames,
            rs.final,
            rs.score,
            "yes" if rs.included else "no",
            str(rs.run.path),
        ]
        for rs in summary.runs
    ]
    return Table(cols, rows)


def issue_table(summary: Summary) -> Table:
    """Every missing, partial, running, failed, excluded or unnormalized item."""
    return Table(["kind", "where", "detail"], [[i.kind, i.path, i.detail] for i in summary.issues])


def reference_table(summary: Summary, references: Sequence[Reference]) -> Table:
    """Published returns for the tasks in this summary, beside our final means."""
    cols = [
        "task",
        "source",
        "published (frames: return)",
        f"ours: final {summary.metric} by group",
    ]
    rows = []
    for task in summary.grouping.tasks:
        ours = "; ".join(
            f"{c.group}: {_fmt(c.mean)} @ {format_frames(c.frames_max)}"
            for c in summary.cells
            if c.task == task
        )
        for ref in references:
            pts = ref.for_task(task)
            if pts:
                rows.append(
                    [
                        task,
                        ref.label,
                        ", ".join(f"{format_frames(int(x))}: {_fmt(float(y))}" for x, y in pts),
                        ours,
                    ]
                )
    return Table(cols, rows)
