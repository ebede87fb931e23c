"""From loaded runs to everything a report shows: per-run final scores, per-(group, task) cells
with seed intervals and curve bands, and the aggregate across tasks with rliable.

Rules (documented in README.md, "Reproduce and ablate"):
- final score of a run = mean of the metric over its last K logged points (at or before
  `at_frames` when given);
- failed runs are listed and left out of the scores (unless `include_failed`); running runs are
  kept and marked;
- the aggregate uses the tasks every group has and, per group, the same number of seeds on every
  task (rliable's stratified bootstrap needs a [runs, tasks] matrix); what that leaves out is
  reported as `excluded`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from worldmodels.analysis.aggregate import (
    CurveBand,
    bootstrap_mean_ci,
    curve_band,
    final_score,
    interval_estimates,
    performance_profiles,
)
from worldmodels.analysis.grouping import DEFAULT_IGNORED_KEYS, Cell, Grouping, group_runs
from worldmodels.analysis.normalize import Normalizer
from worldmodels.analysis.runs import Issue, Run, format_frames


@dataclass
class RunScore:
    """One run's final score (raw metric and normalized) and whether the scores use it."""

    run: Run
    group: str
    final: float | None
    score: float | None
    included: bool


@dataclass
class CellSummary:
    """One (group, task): seeds used, final-score mean with its bootstrap interval, the frames
    reached, the run states, and the learning-curve band."""

    group: str
    task: str
    suite: str
    seeds: list[int]
    mean: float
    lo: float
    hi: float
    score_mean: float
    frames_min: int
    frames_max: int
    states: Counter[str]
    band: CurveBand

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def running(self) -> bool:
        return self.states.get("running", 0) > 0

    @property
    def state(self) -> str:
        """'done', or e.g. 'running 1/3, done 2/3' when the runs disagree."""
        total = sum(self.states.values())
        if len(self.states) == 1:
            return next(iter(self.states))
        return ", ".join(f"{s} {c}/{total}" for s, c in sorted(self.states.items()))


@dataclass
class Summary:
    """Everything the report renders."""

    metric: str
    last_k: int
    at_frames: float | None
    grouping: Grouping
    runs: list[RunScore]
    cells: list[CellSummary]
    agg_tasks: list[str]
    agg_points: dict[str, np.ndarray]
    agg_intervals: dict[str, np.ndarray]
    agg_shape: dict[str, tuple[int, int]]
    taus: np.ndarray
    profiles: dict[str, np.ndarray]
    profile_cis: dict[str, np.ndarray]
    normalized: dict[str, bool]
    issues: list[Issue] = field(default_factory=list)

    @property
    def groups(self) -> list[str]:
        return self.grouping.groups


def check_metric(runs: list[Run], metric: str) -> None:
    """Raise a one-line ValueError when no run logged `metric`, listing the metrics that exist."""
    keys = set().union(*(r.metric_keys for r in runs))
    if metric not in keys:
        valid = sorted(k for k in keys if "/" in k)
        shown = ", ".join(valid[:30]) + (" ..." if len(valid) > 30 else "")
        raise ValueError(
            f"unknown metric {metric!r}: no run logged it; metrics found: {shown or 'none'}"
        )


def summarize(
    runs: list[Run],
    issues: list[Issue],
    metric: str = "eval/return_mean",
    last_k: int = 3,
    at_frames: float | None = None,
    normalizer: Normalizer | None = None,
    reps: int = 2000,
    seed: int = 0,
    ignored: tuple[str, ...] = DEFAULT_IGNORED_KEYS,
    include_failed: bool = False,
) -> Summary:
    """Score, group and aggregate `runs`; `issues` (from discovery) is extended with what this
    step finds or leaves out."""
    check_metric(runs, metric)
    normalizer = normalizer or Normalizer()
    issues = list(issues)
    grouping, found = group_runs(runs, ignored)
    issues.extend(found)

    rules = _Rules(metric, last_k, at_frames, include_failed, reps, seed)
    run_scores: list[RunScore] = []
    cells: list[CellSummary] = []
    normalized: dict[str, bool] = {}
    for by_task in grouping.cells.values():
        for task, cell in by_task.items():
            normalized[task] = normalizer.bounds(cell.suite, task) is not None
            summary, scores, found = _score_cell(cell, normalizer, rules)
            cells.append(summary)
            run_scores.extend(scores)
            issues.extend(found)
    for task, ok in sorted(normalized.items()):
        if not ok:
            issues.append(
                Issue(
                    task,
                    "unnormalized",
                    f"task {task}: no normalizer entry, aggregate uses raw {metric} "
                    "(pass --normalizer FILE)",
                )
            )

    agg_tasks, score_dict, shape_issues = _score_matrices(run_scores, grouping.groups)
    issues.extend(shape_issues)
    points: dict[str, np.ndarray] = {}
    intervals: dict[str, np.ndarray] = {}
    profiles: dict[str, np.ndarray] = {}
    profile_cis: dict[str, np.ndarray] = {}
    taus = np.zeros(0)
    if score_dict:
        points, intervals = interval_estimates(score_dict, reps=reps, seed=seed)
        top = max(1.0, max(float(s.max()) for s in score_dict.values()))
        taus = np.linspace(0.0, top, 101)
        profiles, profile_cis = performance_profiles(score_dict, taus, reps=reps, seed=seed)
    return Summary(
        metric=metric,
        last_k=last_k,
        at_frames=at_frames,
        grouping=grouping,
        runs=run_scores,
        cells=cells,
        agg_tasks=agg_tasks,
        agg_points=points,
        agg_intervals=intervals,
        agg_shape={g: s.shape for g, s in score_dict.items()},
        taus=taus,
        profiles=profiles,
        profile_cis=profile_cis,
        normalized=normalized,
        issues=issues,
    )


@dataclass(frozen=True)
class _Rules:
    metric: str
    last_k: int
    at_frames: float | None
    include_failed: bool
    reps: int
    seed: int


def _score_cell(
    cell: Cell, normalizer: Normalizer, rules: _Rules
) -> tuple[CellSummary, list[RunScore], list[Issue]]:
    """Final scores of one (group, task)'s runs, their mean and interval over seeds, and the
    curve band; failed runs and runs without the metric are reported and left out."""
    issues: list[Issue] = []
    scores: list[RunScore] = []
    used: list[tuple[int, float, float]] = []  # (seed, final, normalized)
    curves = []
    at = rules.at_frames
    for run in cell.runs:
        x, y = run.curve(rules.metric)
        if at is not None:
            x, y = x[x <= at], y[x <= at]
        final = final_score(x, y, rules.last_k)
        score = None if final is None else normalizer(cell.suite, cell.task, final)
        ok = final is not None and (rules.include_failed or run.state != "failed")
        where = str(run.path)
        if final is None:
            issues.append(Issue(where, "partial", f"no {rules.metric} values logged{_before(at)}"))
        elif not ok:
            issues.append(Issue(where, "excluded", "failed run left out of the scores"))
        if at is not None and final is not None and run.env_frames < at:
            reached = f"reached {format_frames(run.env_frames)} < {format_frames(int(at))} frames"
            issues.append(Issue(where, "partial", f"{reached}; scored at its last point"))
        scores.append(RunScore(run, cell.group, final, score, ok))
        if ok and final is not None and score is not None:
            used.append((run.seed if run.seed is not None else -1, final, score))
            curves.append((x, y))
    finals = np.array([f for _, f, _ in used])  # [seeds]
    lo, hi = bootstrap_mean_ci(finals, reps=rules.reps, seed=rules.seed)
    frames = [r.env_frames for r in cell.runs]
    summary = CellSummary(
        group=cell.group,
        task=cell.task,
        suite=cell.suite,
        seeds=[s for s, _, _ in used],
        mean=float(finals.mean()) if finals.size else float("nan"),
        lo=lo,
        hi=hi,
        score_mean=float(np.mean([s for _, _, s in used])) if used else float("nan"),
        frames_min=min(frames),
        frames_max=max(frames),
        states=Counter(r.state for r in cell.runs),
        band=curve_band(curves, seed=rules.seed),
    )
    return summary, scores, issues


def _before(at_frames: float | None) -> str:
    return "" if at_frames is None else f" at or before {format_frames(int(at_frames))} frames"


def _score_matrices(
    run_scores: list[RunScore], groups: list[str]
) -> tuple[list[str], dict[str, np.ndarray], list[Issue]]:
    """Per group a [runs, tasks] matrix of normalized scores over the tasks every scored group has,
    with the same number of seeds per task (the lowest seeds are kept)."""
    issues: list[Issue] = []
    per: dict[str, dict[str, list[tuple[int, float, RunScore]]]] = {g: {} for g in groups}
    for rs in run_scores:
        if rs.included and rs.score is not None:
            seed = rs.run.seed if rs.run.seed is not None else 10**9
            per[rs.group].setdefault(rs.run.task, []).append((seed, rs.score, rs))
    scored = [g for g in groups if per[g]]
    for g in groups:
        if not per[g]:
            issues.append(
                Issue(g, "excluded", f"group '{g}' has no scored runs: left out of the aggregate")
            )
    if not scored:
        return [], {}, issues
    task_sets = [set(per[g]) for g in scored]
    common = sorted(set.intersection(*task_sets))
    everything = sorted(set.union(*task_sets))
    if not common:
        issues.append(
            Issue(
                "aggregate",
                "excluded",
                "no task is shared by every group; no aggregate across groups",
            )
        )
        return [], {}, issues
    left = [t for t in everything if t not in common]
    if left:
        issues.append(
            Issue(
                "aggregate",
                "excluded",
                f"task(s) {', '.join(left)} left out of the aggregate: not run by every group",
            )
        )
    out: dict[str, np.ndarray] = {}
    for g in scored:
        n = min(len(per[g][t]) for t in common)
        cols = []
        for t in common:
            entries = sorted(per[g][t], key=lambda e: e[0])
            for _, _, rs in entries[n:]:
                issues.append(
                    Issue(
                        str(rs.run.path),
                        "excluded",
                        f"left out of the aggregate: group '{g}' has only {n} seed(s) on some task",
                    )
                )
            cols.append([s for _, s, _ in entries[:n]])
        out[g] = np.asarray(cols, dtype=np.float64).T  # [runs, tasks]
    return common, out, issues
