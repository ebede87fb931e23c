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
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
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


#: y-axis labels of the metrics the loop logs (a return is a sum of rewards: no physical unit)
METRIC_LABELS = {
    "eval/return_mean": "evaluation return (mean over episodes)",
    "eval/return_std": "evaluation return (std over episodes)",
    "episode/return": "training episode return",
    "episode/length": "episode length (policy steps)",
}
BAND = "shaded: 95% bootstrap CI of the mean over seeds"


def metric_label(metric: str) -> str:
    """The y label of `metric`: words for the loop's own metrics, the key otherwise."""
    return METRIC_LABELS.get(metric, metric)


def _seeds_text(cells: list) -> str:
    counts = sorted({len(c.seeds) or int(c.band.n.max(initial=0)) for c in cells})
    if not counts:
        return ""
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{n} seed{'s' if counts[-1] != 1 else ''}"


def plot_learning_curves(summary: Summary, references: Sequence[Reference] = ()) -> Figure:
    """One subplot per task: each group's mean curve over seeds with its 95% bootstrap band;
    dashed when a seed of it is still running; reference results as markers. The x axis spans
    the runs' data only: published points past it are named in the subplot, not drawn (a 1M-frame
    marker would squeeze a 100k-frame run into the left tenth)."""
    tasks = summary.grouping.tasks
    ncols = min(3, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False)
    colors = group_colors(summary.groups)
    by_task: dict[str, list] = {t: [] for t in tasks}
    for cell in summary.cells:
        by_task[cell.task].append(cell)
    drawn_refs: set[str] = set()
    past: list[str] = []  # the caption: published points past each task's data
    for i, task in enumerate(tasks):
        ax = axes[i // ncols][i % ncols]
        running = []
        drawn = [c for c in by_task[task] if c.band.frames.size]
        for cell in drawn:
            b = cell.band
            style = "--" if cell.running else "-"
            # a curve of one or two evaluations would be an invisible or bare segment: mark them
            marker = "o" if b.frames.size <= 2 else None
            ax.plot(b.frames, b.mean, style, color=colors[cell.group], lw=1.8, marker=marker)
            ax.fill_between(b.frames, b.lo, b.hi, color=colors[cell.group], alpha=0.2, lw=0)
            if cell.running:
                running.append(cell.group)
        x_max = max((float(c.band.frames.max()) for c in drawn), default=None)
        beyond = []
        for j, ref in enumerate(references):
            pts = ref.for_task(task)
            inside = [p for p in pts if x_max is None or p[0] <= x_max * 1.0001]
            outside = [p for p in pts if p not in inside]
            if inside:
                xs, ys = zip(*inside)
                marker = _REF_MARKERS[j % len(_REF_MARKERS)]
                ax.plot(xs, ys, ":", marker=marker, color="0.35", ms=7, lw=1)
                drawn_refs.add(ref.name)
            if outside:
                at = ", ".join(f"{format_frames(int(f))}: {v:.0f}" for f, v in outside)
                beyond.append(f"{ref.label} {at}")
        if x_max is not None:
            ax.set_xlim(0, x_max * 1.02)
        if beyond:
            past.append(f"{task}: {'; '.join(beyond)}")
        seeds = _seeds_text(drawn)
        title = task + (f" ({seeds})" if seeds else "")
        title += f"\nrunning: {', '.join(running)}" if running else ""
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("env frames (after action repeat)")
        ax.set_ylabel(metric_label(summary.metric), fontsize=9)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_frames(int(v))))
        ax.grid(True, alpha=0.25)
    for k in range(len(tasks), nrows * ncols):
        axes[k // ncols][k % ncols].axis("off")
    handles: list[Artist] = [Line2D([], [], color=colors[g], lw=2, label=g) for g in summary.groups]
    handles.append(Patch(facecolor="0.5", alpha=0.3, label=BAND))
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
        if r.name in drawn_refs
    ]
    if _running_groups(summary):
        handles.append(Line2D([], [], color="k", ls="--", label="still running"))
    # below the axes, in inches: the legend, then the caption (published points past the data)
    caption_in = (len(past) + 1) * 0.16 + 0.05 if past else 0.0
    legend_in = math.ceil(len(handles) / 3) * 0.26 + 0.1
    height = fig.get_figheight() + caption_in + legend_in
    fig.set_figheight(height)
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=min(3, len(handles)),
        bbox_to_anchor=(0.5, caption_in / height),
        frameon=False,
    )
    if past:
        text = "Published results past the runs' frames (not drawn; frames: return):\n"
        fig.text(0.5, 0.01, text + "\n".join(past), ha="center", va="bottom", fontsize=8,
                 color="0.25")  # fmt: skip
    fig.tight_layout(rect=(0, (caption_in + legend_in) / height, 1, 1))
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
    fig.text(0.5, -0.9 / (row_height * len(groups)) - 0.05, _interval_caption(summary, "bars"),
             ha="center", va="top", fontsize=12, color="0.25")  # fmt: skip
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
    ax.set_title(_interval_caption(summary, "shaded"), fontsize=9, color="0.25")
    return fig


def _interval_caption(summary: Summary, what: str) -> str:
    """What an aggregate figure's intervals are, over which tasks and seeds."""
    tasks = summary.agg_tasks
    return (
        f"{what}: 95% stratified-bootstrap CIs (rliable) over {len(tasks)} task"
        f"{'s' if len(tasks) != 1 else ''} x seeds"
    )


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
