"""Known answers for the score math: IQM and friends, final score, bootstrap coverage, curve bands,
performance profiles."""

from __future__ import annotations

import numpy as np
import pytest
from rliable import metrics as rly_metrics

from worldmodels.analysis.aggregate import (
    aggregate_metrics,
    bootstrap_mean_ci,
    curve_band,
    final_score,
    interval_estimates,
    performance_profiles,
)


def test_aggregate_metrics_known_numbers():
    # 4 runs x 2 tasks; flattened sorted: 0, .1, .2, .3, .4, .5, .6, 10.
    scores = np.array([[0.0, 0.4], [0.1, 0.5], [0.2, 0.6], [0.3, 10.0]])
    iqm, median, mean, gap = aggregate_metrics(scores)
    assert iqm == pytest.approx(np.mean([0.2, 0.3, 0.4, 0.5]))  # 25% trimmed from each end
    assert mean == pytest.approx((2.1 + 10.0) / 8)
    assert median == pytest.approx(np.median([0.15, 2.875]))  # median of the task means
    assert gap == pytest.approx(1.0 - np.mean(np.minimum(scores, 1.0)))  # 10 is clipped to 1


def test_final_score_last_k_and_budget():
    frames = np.array([10.0, 20.0, 30.0, 40.0])
    values = np.array([1.0, 2.0, 3.0, 7.0])
    assert final_score(frames, values, last_k=1) == 7.0
    assert final_score(frames, values, last_k=3) == pytest.approx(4.0)
    assert final_score(frames, values, last_k=10) == pytest.approx(3.25)
    assert final_score(frames, values, last_k=2, at_frames=30) == pytest.approx(2.5)
    assert final_score(frames, values, last_k=2, at_frames=5) is None
    with pytest.raises(ValueError, match="last_k"):
        final_score(frames, values, last_k=0)


def _coverage(confidence: float, trials: int) -> float:
    """Fraction of synthetic experiments (10 seeds x 3 tasks, known task means) whose stratified
    bootstrap interval of the aggregate mean covers the true mean."""
    rng = np.random.default_rng(123)
    mu = np.array([0.3, 0.5, 0.7])

    def mean_only(s: np.ndarray) -> np.ndarray:
        return np.array([rly_metrics.aggregate_mean(s)])

    hits = 0
    for i in range(trials):
        scores = rng.normal(mu, 0.1, size=(10, 3))  # [runs, tasks]
        _, ci = interval_estimates(
            {"a": scores}, func=mean_only, reps=400, confidence=confidence, seed=i
        )
        hits += ci["a"][0, 0] <= mu.mean() <= ci["a"][1, 0]
    return hits / trials


def test_stratified_bootstrap_interval_covers_true_mean():
    assert _coverage(0.95, trials=150) >= 0.9
    # The check can fail: a 50% interval misses the truth about half the time.
    assert _coverage(0.5, trials=60) < 0.75


def test_seed_interval_covers_true_mean():
    rng = np.random.default_rng(7)
    hits = 0
    for i in range(500):
        x = rng.normal(500.0, 100.0, size=20)
        lo, hi = bootstrap_mean_ci(x, reps=1000, seed=i)
        hits += lo <= 500.0 <= hi
    assert hits / 500 >= 0.9
    assert bootstrap_mean_ci(np.array([3.0])) == (3.0, 3.0)  # one seed: no spread to estimate


def test_interval_estimates_reproducible_and_ordered():
    rng = np.random.default_rng(0)
    scores = {"x": rng.uniform(0, 1, (5, 4)), "y": rng.uniform(0.5, 1.5, (5, 4))}
    p1, ci1 = interval_estimates(scores, reps=300, seed=3)
    p2, ci2 = interval_estimates(scores, reps=300, seed=3)
    np.testing.assert_array_equal(ci1["x"], ci2["x"])
    for k in scores:
        np.testing.assert_allclose(p1[k], aggregate_metrics(scores[k]))
        assert np.all(ci1[k][0] <= p1[k] + 1e-12) and np.all(p1[k] <= ci1[k][1] + 1e-12)
    with pytest.raises(ValueError, match="runs, tasks"):
        interval_estimates({"bad": np.zeros(3)}, reps=10)


def test_curve_band_aligns_seeds_without_extrapolating():
    a = (np.array([0.0, 10.0, 20.0]), np.array([0.0, 10.0, 20.0]))
    b = (np.array([0.0, 10.0]), np.array([2.0, 12.0]))  # a shorter (still running) seed
    band = curve_band([a, b], reps=200)
    np.testing.assert_array_equal(band.frames, [0.0, 10.0, 20.0])
    np.testing.assert_array_equal(band.n, [2, 2, 1])
    np.testing.assert_allclose(band.mean, [1.0, 11.0, 20.0])
    assert band.lo[0] <= 1.0 <= band.hi[0] and band.hi[0] - band.lo[0] > 0
    assert band.lo[2] == band.hi[2] == 20.0
    # Seeds evaluated at different frames are interpolated inside their own range.
    c = (np.array([5.0, 15.0]), np.array([5.0, 15.0]))
    band = curve_band([a, c], reps=50)
    np.testing.assert_array_equal(band.frames, [0.0, 5.0, 10.0, 15.0, 20.0])
    np.testing.assert_array_equal(band.n, [1, 2, 2, 2, 1])
    np.testing.assert_allclose(band.mean, [0.0, 5.0, 10.0, 15.0, 20.0])


def test_performance_profile_fraction_above_tau():
    scores = {"a": np.array([[0.1, 0.6], [0.3, 0.9]])}
    taus = np.array([0.0, 0.2, 0.5, 0.95])
    profiles, cis = performance_profiles(scores, taus, reps=100)
    np.testing.assert_allclose(profiles["a"], [1.0, 0.75, 0.5, 0.0])
    assert cis["a"].shape == (2, 4)
