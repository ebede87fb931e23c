"""The report's figures as a researcher reads them, checked on the figure objects: the x axis
spans the data (published points past it named in the caption), labelled axes, the band named."""

from __future__ import annotations

import numpy as np
import pytest

from worldmodels.analysis.normalize import Normalizer
from worldmodels.analysis.plots import BAND, plot_aggregate, plot_learning_curves, plot_profiles
from worldmodels.analysis.reference import get_references
from worldmodels.analysis.runs import discover_runs
from worldmodels.analysis.summary import summarize
from worldmodels.analysis.synthetic import write_sweep


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    groups = {"+ablation=none": 800.0, "+ablation=no_free_nats": 600.0}
    write_sweep(root, groups, ["walker_walk", "cheetah_run"], [0, 1], points=5, budget=100_000)
    runs, issues = discover_runs([root])
    return summarize(runs, issues, metric="eval/return_mean", normalizer=Normalizer({}), reps=50)


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.texts)


def test_curves_x_axis_spans_the_data_and_names_references_past_it(summary):
    refs = get_references(["dreamerv3"])  # published at 500k and 1M frames; the runs reach 100k
    fig = plot_learning_curves(summary, refs)
    axes = [ax for ax in fig.axes if ax.lines]
    assert len(axes) == 2
    for ax in axes:
        data = np.concatenate(
            [line.get_xdata() for line in ax.lines if line.get_linestyle() == "-"]
        )
        lo, hi = ax.get_xlim()
        assert lo <= data.min() and hi >= data.max()  # every point is inside
        assert hi <= 1.05 * data.max()  # and the axis stops at the data, not at 1M
        assert "return" in ax.get_ylabel() and "env frames" in ax.get_xlabel()
        assert "2 seeds" in ax.get_title()
    caption = _texts(fig)
    assert "walker_walk: DreamerV3 500k" in caption and "1M" in caption
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert BAND in legend
    for ax in axes:  # what is drawn (runs and published points) lies inside the axis
        drawn = np.concatenate([line.get_xdata() for line in ax.lines])
        assert drawn.max() <= ax.get_xlim()[1]


def test_references_inside_the_data_are_drawn(summary):
    refs = get_references(["dreamerv3"])
    ref = refs[0]
    inside = type(ref)(ref.name, ref.label, ref.source,
                       {t: ((50_000, 500.0),) for t in ref.points})  # fmt: skip
    fig = plot_learning_curves(summary, [inside])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"{ref.label} (published)" in legend and not _texts(fig)


def test_aggregate_figures_name_their_intervals(summary):
    assert summary.agg_points  # two groups on the same two tasks: there is an aggregate
    assert "95% stratified-bootstrap CIs" in _texts(plot_aggregate(summary))
    profiles = plot_profiles(summary)
    assert "95% stratified-bootstrap CIs" in profiles.axes[0].get_title()
