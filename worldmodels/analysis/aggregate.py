"""Scores with uncertainty: a run's final score, per-task bootstrap intervals over seeds, curve
bands, and rliable's aggregate metrics (IQM, median, mean, optimality gap) with stratified
bootstrap confidence intervals and performance profiles (Agarwal et al. 2021).

Pure functions on numpy arrays; nothing here knows about run dirs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from worldmodels.analysis.extra import require

require("worldmodels.analysis (rliable's aggregate metrics)")
from rliable import library as rly  # noqa: E402
from rliable import metrics as rly_metrics  # noqa: E402

AGGREGATE_METRICS = ("IQM", "Median", "Mean", "Optimality gap")


def final_score(
    frames: np.ndarray, values: np.ndarray, last_k: int, at_frames: float | None = None
) -> float | None:
    """Mean of `values` over the last `last_k` evaluation points (those at or before `at_frames`
    when given); None when there is no point. Averaging a few points smooths evaluation noise."""
    if last_k < 1:
        raise ValueError(f"last_k must be >= 1, got {last_k}")
    if at_frames is not None:
        values = values[frames <= at_frames]
    if values.size == 0:
        return None
    return float(np.mean(values[-last_k:]))


def bootstrap_mean_ci(
    values: np.ndarray, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` [N] (resampling the N seeds).
    A single value gives a zero-width interval: one seed carries no spread information."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(reps, values.size))  # [reps, N]
    means = values[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def aggregate_metrics(scores: np.ndarray) -> np.ndarray:
    """[IQM, median, mean, optimality gap] of a score matrix [runs, tasks] (rliable's estimators;
    the gap is measured from a normalized score of 1)."""
    return np.array(
        [
            rly_metrics.aggregate_iqm(scores),
            rly_metrics.aggregate_median(scores),
            rly_metrics.aggregate_mean(scores),
            rly_metrics.aggregate_optimality_gap(scores, 1.0),
        ]
    )


@contextmanager
def _seeded_numpy(seed: int) -> Iterator[None]:
    """rliable's stratified bootstrap draws from numpy's global generator: seed it for
    reproducible intervals and restore the caller's state afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def interval_estimates(
    score_dict: Mapping[str, np.ndarray],
    func: Callable[[np.ndarray], np.ndarray] = aggregate_metrics,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Point estimates {name: [M]} and stratified-bootstrap intervals {name: [2, M]} (lower row,
    upper row) of `func` on each score matrix [runs, tasks]; runs are resampled within tasks."""
    for name, scores in score_dict.items():
        if scores.ndim != 2 or scores.shape[0] < 1 or scores.shape[1] < 1:
            raise ValueError(
                f"scores of {name!r} must be a non-empty [runs, tasks] matrix, "
                f"got shape {scores.shape}"
            )
    with _seeded_numpy(seed):
        points, intervals = rly.get_interval_estimates(
            dict(score_dict), func, reps=reps, confidence_interval_size=confidence
        )
    return dict(points), dict(intervals)


def performance_profiles(
    score_dict: Mapping[str, np.ndarray],
    taus: np.ndarray,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Score distributions {name: [len(taus)]} (fraction of runs scoring above each tau) with
    stratified-bootstrap bands {name: [2, len(taus)]}."""
    with _seeded_numpy(seed):
        profiles, cis = rly.create_performance_profile(
            dict(score_dict), taus, reps=reps, confidence_interval_size=confidence
        )
    return dict(profiles), dict(cis)


@dataclass(frozen=True)
class CurveBand:
    """Mean over seeds of a learning curve with a bootstrap band; `n` = seeds present per point."""

    frames: np.ndarray  # [G]
    mean: np.ndarray  # [G]
    lo: np.ndarray  # [G]
    hi: np.ndarray  # [G]
    n: np.ndarray  # [G] int


def curve_band(
    curves: list[tuple[np.ndarray, np.ndarray]],
    reps: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> CurveBand:
    """Align seeds' curves (frames [N_i], values [N_i]) on the union of their frames, linearly
    interpolating each seed inside its own range and never extrapolating past its last point (so a
    shorter, still-running seed stops contributing instead of being invented). Each point's band is
    a percentile bootstrap over the seeds present there."""
    curves = [(x, y) for x, y in curves if x.size]
    if not curves:
        empty = np.zeros(0)
        return CurveBand(empty, empty, empty, empty, np.zeros(0, dtype=int))
    grid = np.unique(np.concatenate([x for x, _ in curves]))  # [G]
    vals = np.full((len(curves), grid.size), np.nan)  # [R, G]
    for i, (x, y) in enumerate(curves):
        inside = (grid >= x[0]) & (grid <= x[-1])
        vals[i, inside] = np.interp(grid[inside], x, y)
    present = ~np.isnan(vals)  # [R, G]
    n = present.sum(axis=0)
    mean = np.where(n > 0, np.nansum(vals, axis=0) / np.maximum(n, 1), np.nan)
    lo, hi = mean.copy(), mean.copy()
    rng = np.random.default_rng(seed)
    alpha = (1.0 - confidence) / 2.0
    # Points sharing the same set of present seeds are bootstrapped together (one resample of
    # seed indices per replicate, as the seeds, not the points, are the independent samples).
    masks, inverse = np.unique(present.T, axis=0, return_inverse=True)
    for m, mask in enumerate(masks):
        k = int(mask.sum())
        cols = np.flatnonzero(inverse.reshape(-1) == m)
        if k < 2:
            continue
        sub = vals[np.ix_(mask, cols)]  # [k, C]
        idx = rng.integers(0, k, size=(reps, k))  # [reps, k]
        boot = sub[idx].mean(axis=1)  # [reps, C]
        lo[cols], hi[cols] = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
    return CurveBand(grid, mean, lo, hi, n.astype(int))
