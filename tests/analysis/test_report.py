"""`python -m worldmodels.report` end to end on synthetic run dirs: files, figures, tables, marks
for running runs, reference markers, TensorBoard export and one-line errors on bad input."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from worldmodels.analysis.synthetic import write_run, write_sweep
from worldmodels.report import main, parse_frames

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    assert img[..., :3].std() > 0.01  # not a blank canvas


def test_report_cli_end_to_end(tmp_path):
    sweep = tmp_path / "multirun"
    write_sweep(
        sweep,
        {"+ablation=none": 800.0, "+ablation=no_free_nats": 500.0},
        ["walker_walk", "cheetah_run"],
        [0, 1, 2],
        points=6,
    )
    # One more seed still running on walker_walk for the baseline.
    ov = ["+ablation=none", "env.task=walker_walk", "seed=3"]
    write_run(
        sweep / "running",
        ov,
        "walker_walk",
        3,
        [100.0, 300.0],
        [16_666, 33_333],
        state="running",
        target_frames=100_000,
    )
    out = tmp_path / "report"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "worldmodels.report",
            str(sweep),
            "--out",
            str(out),
            "--reference",
            "dreamerv3,drqv2",
            "--reps",
            "300",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    # The console shows the per-task table, the aggregate and the running run.
    assert "| ablation=none | walker_walk | 4 |" in proc.stdout
    assert "aggregate over cheetah_run, walker_walk" in proc.stdout
    assert "[running]" in proc.stdout and "still running: 33.3k of 100k frames" in proc.stdout

    for name in ("curves", "aggregate", "profiles"):
        assert_png(out / f"{name}.png")
        svg = (out / f"{name}.svg").read_text()
        assert "<svg" in svg[:1000]
    md = (out / "report.md").read_text()
    for link in ("(curves.png)", "(aggregate.png)", "(profiles.png)"):
        assert link in md
    # The running seed 3, the seed 3 that cheetah_run lacks, and that seed left out of the
    # aggregate.
    assert "## Issues (3)" in md and "still running" in md
    assert "task cheetah_run: no run for seed(s) 3" in md
    assert "done 3/4, running 1/4" in md
    assert "DreamerV3" in md and "100k: 540" in md  # reference table
    assert "action repeat 1, train ratio 256" in md  # and each reference's protocol

    with (out / "tasks.csv").open() as f:
        rows = {(r["group"], r["task"]): r for r in csv.DictReader(f)}
    assert rows[("ablation=none", "walker_walk")]["n_seeds"] == "4"
    assert rows[("ablation=no_free_nats", "cheetah_run")]["n_seeds"] == "3"
    base = float(rows[("ablation=none", "cheetah_run")]["mean"])
    lo, hi = (
        float(rows[("ablation=none", "cheetah_run")]["ci_low"]),
        float(rows[("ablation=none", "cheetah_run")]["ci_high"]),
    )
    assert lo <= base <= hi and 700 < base < 850  # curve saturates towards 800
    with (out / "aggregate.csv").open() as f:
        agg = {r["group"]: r for r in csv.DictReader(f)}
    # The ablation is clearly worse (~0.49 vs ~0.78 normalized): the IQM intervals do not overlap.
    assert float(agg["ablation=no_free_nats"]["iqm_high"]) < float(agg["ablation=none"]["iqm_low"])
    assert agg["ablation=none"]["runs_per_task"] == "3"  # seed 3 exists on one task only
    events = list((out / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 1000


def test_running_groups_are_marked_in_figures(tmp_path):
    from worldmodels.analysis.plots import plot_learning_curves
    from worldmodels.analysis.runs import discover_runs
    from worldmodels.analysis.summary import summarize

    write_run(
        tmp_path / "a",
        ["seed=0", "agent=x"],
        "walker_walk",
        0,
        [1.0, 2.0],
        [10, 20],
        state="running",
        target_frames=100,
    )
    write_run(tmp_path / "b", ["seed=0", "agent=y"], "walker_walk", 0, [1.0, 2.0], [10, 20])
    runs, issues = discover_runs([tmp_path])
    summary = summarize(runs, issues, reps=50)
    fig = plot_learning_curves(summary)
    ax = fig.axes[0]
    assert "running: agent=x" in ax.get_title()
    styles = {line.get_linestyle() for line in ax.get_lines()}
    assert styles == {"--", "-"}  # the running group dashed, the finished one solid
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "still running" in labels


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: ")
    return err


def test_bad_input_gives_one_line_errors(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert "no runs found under" in _error(capsys, [str(tmp_path), "--out", out])
    assert "does not exist" in _error(capsys, [str(tmp_path / "missing"), "--out", out])
    write_run(tmp_path / "r", ["seed=0"], "walker_walk", 0, [1.0], [10])
    err = _error(capsys, [str(tmp_path), "--out", out, "--metric", "eval/retrun_mean"])
    assert "unknown metric 'eval/retrun_mean'" in err and "eval/return_mean" in err
    err = _error(capsys, [str(tmp_path), "--out", out, "--reference", "dreamerv9"])
    assert "unknown reference(s) dreamerv9" in err and "dreamerv3" in err
    assert "--last-k" in _error(capsys, [str(tmp_path), "--out", out, "--last-k", "0"])
    assert "frames must be" in _error(capsys, [str(tmp_path), "--out", out, "--at-frames", "soon"])
    assert not Path(out).exists()  # nothing written on bad input


def test_at_frames_scores_at_a_budget(tmp_path, capsys):
    write_run(
        tmp_path / "r",
        ["seed=0"],
        "walker_walk",
        0,
        [100.0, 200.0, 900.0],
        [50_000, 100_000, 150_000],
    )
    assert (
        main(
            [
                str(tmp_path),
                "--out",
                str(tmp_path / "out"),
                "--at-frames",
                "100k",
                "--last-k",
                "1",
                "--no-tb",
                "--reps",
                "50",
            ]
        )
        == 0
    )
    with (tmp_path / "out" / "tasks.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["mean"]) == 200.0
    assert parse_frames("1M") == 1e6 and parse_frames("2.5e5") == 2.5e5
    with pytest.raises(ValueError):
        parse_frames("-3k")
