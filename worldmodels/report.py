"""Turn run dirs into a report: tables (markdown + CSV), figures (PNG + SVG), TensorBoard text and
images, and a console summary. Missing, partial, failed and still-running runs are listed.

    python -m worldmodels.report DIR [DIR ...] [--out REPORT_DIR] [--metric eval/return_mean]
        [--reference dreamerv3,drqv2] [--last-k 3] [--at-frames 500k] [--normalizer FILE]
        [--no-normalize] [--reps 2000] [--include-failed] [--ignore-key KEY] [--no-tb]

Runs are found recursively (a dir holding metrics.jsonl + config.yaml) and grouped by their Hydra
overrides minus seed, task and bookkeeping keys; see README.md (Reproduce and ablate).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from worldmodels.analysis import extra

if __name__ == "__main__" and extra.missing():  # one line, before the imports that need them
    print(f"error: {extra.message('python -m worldmodels.report')}", file=sys.stderr)
    sys.exit(2)

from worldmodels.analysis.grouping import DEFAULT_IGNORED_KEYS  # noqa: E402
from worldmodels.analysis.normalize import Normalizer, load_normalizer_table
from worldmodels.analysis.reference import REFERENCES, Reference, get_references
from worldmodels.analysis.runs import discover_runs, format_frames
from worldmodels.analysis.summary import Summary, summarize
from worldmodels.analysis.tables import (
    Table,
    aggregate_table,
    issue_table,
    reference_table,
    run_table,
    task_table,
    to_markdown,
    write_csv,
)


@dataclass
class ReportResult:
    """What `build_report` wrote."""

    out_dir: Path
    summary: Summary
    files: list[Path]
    console: str


def parse_frames(text: str) -> float:
    """'500k' -> 5e5, '1M' -> 1e6, '2.5e5' -> 2.5e5."""
    scale = {"k": 1e3, "m": 1e6}.get(text[-1:].lower(), 1.0)
    body = text[:-1] if scale != 1.0 else text
    try:
        value = float(body) * scale
    except ValueError:
        raise ValueError(f"frames must be a number like 500000, 500k or 1M, got {text!r}") from None
    if value <= 0:
        raise ValueError(f"frames must be positive, got {text!r}")
    return value


def _markdown(
    summary: Summary,
    dirs: Sequence[str | Path],
    figures: dict[str, list[Path]],
    references: Sequence[Reference],
    tables: dict[str, Table],
) -> str:
    s = summary
    budget = (
        "" if s.at_frames is None else f" at or before {format_frames(int(s.at_frames))} frames"
    )
    common = " ".join(f"`{c}`" for c in s.grouping.common)
    lines = [
        "# Report",
        "",
        f"- run dirs: {', '.join(f'`{d}`' for d in dirs)}",
        f"- metric: `{s.metric}`; final score of a run = mean over its last {s.last_k} logged "
        f"points{budget}",
        f"- runs: {len(s.runs)}; groups: {len(s.groups)}; tasks: {', '.join(s.grouping.tasks)}",
        f"- overrides shared by all groups: {common or 'none'}",
        "- intervals: 95% percentile bootstrap over seeds (per task), rliable's stratified "
        "bootstrap over runs within tasks (aggregate)",
        "",
        f"## Issues ({len(s.issues)})",
        "",
        to_markdown(tables["issues"]) if s.issues else "None: every run found is complete.",
        "",
        "## Aggregate",
        "",
    ]
    if s.agg_points:
        lines += [
            f"Over tasks: {', '.join(s.agg_tasks)}. Scores normalized per task "
            "(see README.md, section Reproduce and ablate).",
            "",
            to_markdown(tables["aggregate_md"]),
            "",
            "![aggregate](aggregate.png)",
            "",
            "![performance profiles](profiles.png)",
            "",
        ]
    else:
        lines += ["No aggregate: see the issues above.", ""]
    lines += [
        "## Per task",
        "",
        to_markdown(tables["tasks_md"]),
        "",
        "## Learning curves",
        "",
        "![learning curves](curves.png)",
        "",
    ]
    if references:
        lines += ["## Published references", "", to_markdown(tables["references"]), ""]
        lines += [f"- `{r.name}`: {r.description}" for r in references] + [""]
    lines += [
        "## Groups",
        "",
        to_markdown(
            Table(
                ["group", "overrides"],
                [[g, " ".join(s.grouping.keys[g]) or "(none)"] for g in s.groups],
            )
        ),
        "",
    ]
    lines += ["## Runs", "", to_markdown(tables["runs"]), ""]
    lines += [
        "Files: " + ", ".join(f"[{p.name}]({p.name})" for paths in figures.values() for p in paths),
        "",
    ]
    return "\n".join(lines)


def build_report(
    dirs: Sequence[str | Path],
    out_dir: str | Path,
    metric: str = "eval/return_mean",
    references: Sequence[str] = (),
    last_k: int = 3,
    at_frames: float | None = None,
    normalizer_file: str | Path | None = None,
    normalize: bool = True,
    reps: int = 2000,
    seed: int = 0,
    ignored: tuple[str, ...] = DEFAULT_IGNORED_KEYS,
    include_failed: bool = False,
    tensorboard: bool = True,
) -> ReportResult:
    """Load, summarize and write everything; raises ValueError on bad input (no runs, unknown
    metric or reference, bad normalizer file)."""
    refs = get_references(list(references))
    table = load_normalizer_table(normalizer_file) if normalizer_file else {}
    runs, issues = discover_runs(list(dirs))
    summary = summarize(
        runs,
        issues,
        metric=metric,
        last_k=last_k,
        at_frames=at_frames,
        normalizer=Normalizer(table, enabled=normalize),
        reps=reps,
        seed=seed,
        ignored=ignored,
        include_failed=include_failed,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Imported late: matplotlib/seaborn are slow to import and bad input should fail fast.
    from worldmodels.analysis.plots import write_figures

    figures = write_figures(summary, out, refs)
    tables = {
        "tasks": task_table(summary),
        "tasks_md": task_table(summary, markdown=True),
        "aggregate": aggregate_table(summary),
        "aggregate_md": aggregate_table(summary, markdown=True),
        "runs": run_table(summary),
        "issues": issue_table(summary),
        "references": reference_table(summary, refs),
    }
    files = [p for paths in figures.values() for p in paths]
    for name in ("tasks", "aggregate", "runs", "issues"):
        files.append(write_csv(tables[name], out / f"{name}.csv"))
    report_md = out / "report.md"
    report_md.write_text(_markdown(summary, dirs, figures, refs, tables))
    files.append(report_md)
    if tensorboard:
        from worldmodels.analysis.tb_export import log_report

        texts = {
            "tasks": to_markdown(tables["tasks_md"]),
            "aggregate": to_markdown(tables["aggregate_md"]),
            "issues": to_markdown(tables["issues"]),
        }
        log_report(summary, figures, texts, out / "tb")
    console = _console(summary, tables, report_md)
    return ReportResult(out, summary, files, console)


def _console(summary: Summary, tables: dict[str, Table], report_md: Path) -> str:
    parts = [
        f"{len(summary.runs)} run(s), {len(summary.groups)} group(s), metric {summary.metric}",
        "",
        to_markdown(tables["tasks_md"]),
        "",
    ]
    if summary.agg_points:
        parts += [
            f"aggregate over {', '.join(summary.agg_tasks)}:",
            to_markdown(tables["aggregate_md"]),
            "",
        ]
    if summary.issues:
        parts += [f"{len(summary.issues)} issue(s):"]
        parts += [f"  [{i.kind}] {i.path}: {i.detail}" for i in summary.issues]
        parts += [""]
    parts += [f"report: {report_md}"]
    return "\n".join(parts)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m worldmodels.report",
        description="Aggregate run dirs into tables and figures.",
    )
    p.add_argument("dirs", nargs="+", help="run dirs or sweep dirs (searched recursively)")
    p.add_argument("--out", default=None, help="report dir (default: reports/<timestamp>)")
    p.add_argument(
        "--metric", default="eval/return_mean", help="metric to score (default: eval/return_mean)"
    )
    p.add_argument(
        "--reference",
        action="append",
        default=[],
        help=f"published results to draw, comma-separated: {', '.join(REFERENCES)}",
    )
    p.add_argument(
        "--last-k",
        type=int,
        default=3,
        help="final score = mean of the last K logged points (default 3)",
    )
    p.add_argument(
        "--at-frames", default=None, help="score at this budget instead of the end (e.g. 500k, 1M)"
    )
    p.add_argument(
        "--normalizer",
        default=None,
        help="YAML of 'suite/task': [min, max] entries added to the defaults",
    )
    p.add_argument("--no-normalize", action="store_true", help="aggregate raw returns")
    p.add_argument(
        "--reps",
        type=int,
        default=2000,
        help="bootstrap replicates (use 50000 for a paper; default 2000)",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument(
        "--include-failed",
        action="store_true",
        help="score failed runs too (they are left out by default)",
    )
    p.add_argument(
        "--ignore-key",
        action="append",
        default=[],
        help="extra override key (fnmatch) not to group by",
    )
    p.add_argument("--no-tb", action="store_true", help="skip the TensorBoard export")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; bad input prints one line `error: ...` and returns 2."""
    args = _parser().parse_args(argv)
    out = args.out or f"reports/{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        if args.last_k < 1:
            raise ValueError(f"--last-k must be >= 1, got {args.last_k}")
        if args.reps < 1:
            raise ValueError(f"--reps must be >= 1, got {args.reps}")
        refs = [name.strip() for item in args.reference for name in item.split(",") if name.strip()]
        result = build_report(
            args.dirs,
            out,
            metric=args.metric,
            references=refs,
            last_k=args.last_k,
            at_frames=parse_frames(args.at_frames) if args.at_frames else None,
            normalizer_file=args.normalizer,
            normalize=not args.no_normalize,
            reps=args.reps,
            seed=args.seed,
            ignored=DEFAULT_IGNORED_KEYS + tuple(args.ignore_key),
            include_failed=args.include_failed,
            tensorboard=not args.no_tb,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(result.console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
