"""Figures of a summary: per-task learning curves (mean and 95% band over seeds, x in env frames,
published reference markers), aggregate interval estimates and performance profiles (rliable's
plotting). Each figure is written as PNG and SVG. Runs still in progress are drawn dashed and named
in the subplot title.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

from worldmodels.analysis.extra import require

require("worldmodels.analysis.plots (rliable's and seaborn's plotting)")
matplotlib.use("Agg")  # headless: figures are written to files, never shown

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from rliable import plot_utils  # noqa: E402

from worldmodels.analysis.aggregate import AGGREGATE_METRICS  # noqa: E402
from worldmodels.analysis.reference import Reference  # noqa: E402
from worldmodels.analysis.runs import format_frames  # noqa: E402
from worldmodels.analysis.summary import Summary  # noqa: E402

FORMATS = ("png", "svg")
_REF_MARKERS = ("*", "D", "^", "s", "P", "X", "v", "o")


def group_colors(groups: list[str]) -> dict[str, tuple[float, float, float]]:
    """One colorblind-safe color per group, the same in every figure."""
    palette = sns.color_palette("colorblind", n_colors=max(len(groups), 1))
    return {g: tuple(palette[i]) for i, g in enumerate(groups)}


def save_figure(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    """Write `fig` as out_dir/name.{png,svg} and close it; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in FORMATS:
        path = out_dir / f"{name}.{ext}"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def _running_groups(summary: Summary) -> set[str]:
    return {c.group for c in summary.cells if c.running}


def _display(group: str, running: set[str]) -> str:
    return f"{group} (running)" if group in running else group


def plot_learning_curves(summary: Summary, references: Sequence[Reference] = ()) -> Figure:
    """One subplot per task: each group's mean curve over seeds with its 95% bootstrap band;
    dashed when a seed of it is still running; reference results as markers."""
    tasks = summary.grouping.tasks
    ncols = min(3, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    colors = group_colors(summary.groups)
    by_task: dict[str, list] = {t: [] for t in tasks}
    for cell in summary.cells:
        by_task[cell.task].append(cell)
    for i, task in enumerate(tasks):
        ax = axes[i // ncols][i % ncols]
        running = []
        for cell in by_task[task]:
            b = cell.band
            if not b.frames.size:
                continue
            style = "--" if cell.running else "-"
            ax.plot(b.frames, b.mean, style, color=colors[cell.group], lw=1.8)
            ax.fill_between(b.frames, b.lo, b.hi, color=colors[cell.group], alpha=0.2, lw=0)
            if cell.running:
                running.append(cell.group)
        for j, ref in enumerate(references):
            pts = ref.for_task(task)
            if pts:
                xs, ys = zip(*pts)
                ax.plot(
                    xs,
                    ys,
                    ":",
                    marker=_REF_MARKERS[j % len(_REF_MARKERS)],
                    color="0.35",
                    ms=7,
                    lw=1,
                )
        title = task + (f"\nrunning: {', '.join(running)}" if running else "")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("env frames")
        ax.set_ylabel(summary.metric)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_frames(int(v))))
        ax.grid(True, alpha=0.25)
    for k in range(len(tasks), nrows * ncols):
        axes[k // ncols][k % ncols].axis("off")
    handles = [Line2D([], [], color=colors[g], lw=2, label=g) for g in summary.groups]
    handles += [
        Line2D(
            [],
            [],
            color="0.35",
            ls=":",
            marker=_REF_MARKERS[j % len(_REF_MARKERS)],
            label=f"{r.label} (published)",
        )
        for j, r in enumerate(references)
        if any(r.for_task(t) for t in tasks)
    ]
    if _running_groups(summary):
        handles.append(Line2D([], [], color="k", ls="--", label="still running"))
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=min(4, len(handles)),
        bbox_to_anchor=(0.5, -0.02),
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.06 + 0.03 * math.ceil(len(handles) / 4), 1, 1))
    return fig


def plot_aggregate(summary: Summary) -> Figure:
    """rliable interval plot: IQM, median, mean, optimality gap with 95% stratified-bootstrap
    intervals per group, over `summary.agg_tasks`."""
    running = _running_groups(summary)
    groups = [g for g in summary.groups if g in summary.agg_points]
    names = {g: _display(g, running) for g in groups}
    colors = group_colors(summary.groups)
    row_height = max(0.6, 1.5 / max(len(groups), 1))
    fig, _ = plot_utils.plot_interval_estimates(
        {names[g]: summary.agg_points[g] for g in groups},
        {names[g]: summary.agg_intervals[g] for g in groups},
        metric_names=list(AGGREGATE_METRICS),
        algorithms=[names[g] for g in groups],
        colors={names[g]: colors[g] for g in groups},
        xlabel=_score_label(summary),
        row_height=row_height,
        # Figure-fraction offset that keeps the x label ~0.5 inch below the axes at any height.
        xlabel_y_coordinate=-0.5 / (row_height * len(groups)),
    )
    return fig


def plot_profiles(summary: Summary) -> Figure:
    """rliable performance profiles: fraction of runs with normalized score above tau."""
    running = _running_groups(summary)
    groups = [g for g in summary.groups if g in summary.profiles]
    colors = group_colors(summary.groups)
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    plot_utils.plot_performance_profiles(
        {_display(g, running): summary.profiles[g] for g in groups},
        summary.taus,
        performance_profile_cis={_display(g, running): summary.profile_cis[g] for g in groups},
        colors={_display(g, running): colors[g] for g in groups},
        xlabel=rf"{_score_label(summary)} ($\tau$)",
        ax=ax,
        labelsize="medium",
        ticklabelsize="medium",
    )
    ax.legend(fontsize="small", frameon=False)
    return fig


def _score_label(summary: Summary) -> str:
    tasks = summary.agg_tasks
    if tasks and all(summary.normalized.get(t, False) for t in tasks):
        return "Normalized score"
    return f"Score ({summary.metric}, not all normalized)"


def write_figures(
    summary: Summary, out_dir: Path, references: Sequence[Reference] = ()
) -> dict[str, list[Path]]:
    """Write every figure the summary supports; returns {figure name: [png, svg]}."""
    figures = {"curves": save_figure(plot_learning_curves(summary, references), out_dir, "curves")}
    if summary.agg_points:
        figures["aggregate"] = save_figure(plot_aggregate(summary), out_dir, "aggregate")
        figures["profiles"] = save_figure(plot_profiles(summary), out_dir, "profiles")
    return figures
