"""Run discovery and grouping: overrides minus seed/task/bookkeeping, labels, and the problems a
report must list (missing pieces, missing seeds, failed, running, duplicates, corrupt lines)."""

from __future__ import annotations

import json
import os
import time

import pytest

from worldmodels.analysis.grouping import group_key, group_labels, group_runs, override_item
from worldmodels.analysis.normalize import Normalizer, load_normalizer_table
from worldmodels.analysis.runs import discover_runs
from worldmodels.analysis.summary import summarize
from worldmodels.analysis.synthetic import write_run

FRAMES = [1000, 2000, 3000, 4000]


def test_override_items_and_group_key():
    assert override_item("+ablation=no_free_nats") == ("ablation", "no_free_nats")
    assert override_item("++trainer.steps=10") == ("trainer.steps", "10")
    key = group_key(
        [
            "agent=dreamer",
            "seed=3",
            "env.task=walker_walk",
            "+ablation=none",
            "device=cuda",
            "resume=true",
            "hydra.launcher.n_jobs=2",
            "logger.video=false",
        ]
    )
    assert key == ("ablation=none", "agent=dreamer")
    # '+x' and 'x', and the order of overrides, do not split a group.
    assert group_key(["+ablation=none", "agent=dreamer"]) == group_key(
        ["agent=dreamer", "ablation=none"]
    )
    assert group_key(["agent=dreamer", "seed=1"], ignored=("seed", "agent")) == ()


def test_labels_show_what_differs():
    a = ("ablation=none", "agent=dreamer")
    b = ("ablation=no_free_nats", "agent=dreamer")
    labels, common = group_labels([a, b, a])
    assert labels == {a: "ablation=none", b: "ablation=no_free_nats"}
    assert common == ("agent=dreamer",)
    labels, _ = group_labels([("agent=dreamer",)])
    assert labels == {("agent=dreamer",): "agent=dreamer"}


def _sweep(
    root, groups=("none", "no_free_nats"), tasks=("walker_walk", "cheetah_run"), seeds=(0, 1)
):
    for ab in groups:
        for task in tasks:
            for seed in seeds:
                ov = ["agent=dreamer", f"+ablation={ab}", f"env.task={task}", f"seed={seed}"]
                ret = [100.0 * (seed + 1) * (1 + i) for i in range(len(FRAMES))]
                write_run(root / ",".join(ov), ov, task, seed, ret, FRAMES)


def test_groups_collect_seeds_and_tasks(tmp_path):
    _sweep(tmp_path)
    runs, issues = discover_runs([tmp_path])
    assert len(runs) == 8 and issues == []
    grouping, found = group_runs(runs)
    assert found == []
    assert grouping.groups == ["ablation=none", "ablation=no_free_nats"]  # baseline first
    assert grouping.tasks == ["cheetah_run", "walker_walk"]
    assert grouping.common == ("agent=dreamer",)
    for by_task in grouping.cells.values():
        assert all(cell.seeds == [0, 1] for cell in by_task.values())


def test_missing_partial_failed_running_and_duplicates_are_reported(tmp_path):
    _sweep(tmp_path, seeds=(0, 1, 2))
    ov = ["agent=dreamer", "+ablation=none", "env.task=walker_walk"]
    # A job that died before writing metrics, and one whose config is gone.
    (tmp_path / "died" / ".hydra").mkdir(parents=True)
    (tmp_path / "noconfig").mkdir()
    (tmp_path / "noconfig" / "metrics.jsonl").write_text('{"env_frames": 1}\n')
    # Seed 2 of no_free_nats on cheetah_run fails; walker_walk seed 1 is still running.
    bad = tmp_path / "agent=dreamer,+ablation=no_free_nats,env.task=cheetah_run,seed=2"
    (bad / "status.json").write_text(
        json.dumps({"state": "failed", "env_frames": 4000, "target_frames": 8000})
    )
    running = tmp_path / "agent=dreamer,+ablation=none,env.task=walker_walk,seed=1"
    write_run(
        running,
        [*ov, "seed=1"],
        "walker_walk",
        1,
        [1.0, 2.0],
        FRAMES[:2],
        state="running",
        target_frames=8000,
        extra_lines=['{"env_frames": 30'],
    )  # a line caught mid-write
    # A second copy of seed 0 with fewer frames (e.g. a restarted run in another sweep dir).
    write_run(tmp_path / "other" / "copy", [*ov, "seed=0"], "walker_walk", 0, [5.0], FRAMES[:1])
    # no_free_nats lacks seeds 1 and 2 on walker_walk.
    for seed in (1, 2):
        gone = tmp_path / f"agent=dreamer,+ablation=no_free_nats,env.task=walker_walk,seed={seed}"
        for f in gone.iterdir():
            f.unlink()
        gone.rmdir()

    runs, issues = discover_runs([tmp_path])
    summary = summarize(runs, issues, last_k=1, reps=200)
    text = [(i.kind, i.path, i.detail) for i in summary.issues]

    def has(kind: str, where: str, words: str) -> bool:
        return any(k == kind and where in p and words in d for k, p, d in text)

    assert has("missing", "died", "Hydra job dir")
    assert has("missing", "noconfig", "no config.yaml")
    assert has("missing", "no_free_nats", "walker_walk: no run for seed(s) 1, 2")
    assert has("failed", "seed=2", "failed at 4k of 8k frames")
    assert has("excluded", "seed=2", "failed run left out")
    assert has("running", "walker_walk,seed=1", "still running: 2k of 8k")
    assert has("partial", "walker_walk,seed=1", "1 unreadable line")
    assert has("excluded", "copy", "duplicate of seed 0")
    # Unequal seeds per task (cheetah: 0, 1 as 2 failed; walker: 0): the aggregate matrix keeps
    # the lowest seed on both tasks and says so.
    assert has("excluded", "no_free_nats,env.task=cheetah_run,seed=1", "only 1 seed(s)")
    assert summary.agg_shape["ablation=no_free_nats"] == (1, 2)
    assert summary.agg_shape["ablation=none"] == (3, 2)

    cells = {(c.group, c.task): c for c in summary.cells}
    walker = cells[("ablation=none", "walker_walk")]
    assert walker.running and walker.state == "done 2/3, running 1/3"
    assert walker.seeds == [0, 1, 2]
    cheetah = cells[("ablation=no_free_nats", "cheetah_run")]
    assert cheetah.seeds == [0, 1] and not cheetah.running
    assert cheetah.state == "done 2/3, failed 1/3"
    used = {(rs.group, rs.run.task, rs.run.seed): rs.included for rs in summary.runs}
    assert used[("ablation=no_free_nats", "cheetah_run", 2)] is False


def test_overlapping_dirs_and_stale_running_runs(tmp_path):
    run = write_run(
        tmp_path / "sweep" / "a", ["seed=0"], "walker_walk", 0, [1.0], [10], state="running"
    )
    runs, issues = discover_runs([tmp_path / "sweep", run, tmp_path])
    assert len(runs) == 1  # listed once, whatever the dirs given
    assert [i.detail for i in issues] == ["still running: 10 of 10 frames"]
    two_hours_ago = time.time() - 7200
    for f in run.iterdir():
        os.utime(f, (two_hours_ago, two_hours_ago))
    _, issues = discover_runs([run])
    assert "nothing written for 2.0 h: dead?" in issues[0].detail


def test_normalizer_table_and_unnormalized_tasks(tmp_path):
    norm = Normalizer()
    assert norm("dmc", "walker_walk", 500.0) == 0.5
    assert norm("gym", "CartPole-v1", 250.0) == 0.5
    assert norm.bounds("custom", "reach") is None
    path = tmp_path / "norm.yaml"
    path.write_text("custom/*: [0, 10]\nwalker_walk: [0, 100]\n")
    norm = Normalizer(load_normalizer_table(path))
    assert norm("custom", "reach", 5.0) == 0.5
    assert norm("dmc", "walker_walk", 50.0) == 0.5  # the user's entry wins over dmc/*
    path.write_text("x: [1, 1]\n")
    with pytest.raises(ValueError, match="min != max"):
        load_normalizer_table(path)
    write_run(tmp_path / "r", ["seed=0"], "reach", 0, [3.0, 4.0], [10, 20], suite="custom")
    runs, issues = discover_runs([tmp_path / "r"])
    summary = summarize(runs, issues, reps=50)
    assert [i.kind for i in summary.issues] == ["unnormalized"]
    # The raw mean of the last 3 (here: 2) points.
    assert summary.agg_points["default"][2] == pytest.approx(3.5)


def test_no_runs_and_unknown_metric_errors(tmp_path):
    with pytest.raises(ValueError, match="no runs found under"):
        discover_runs([tmp_path])
    with pytest.raises(ValueError, match="does not exist"):
        discover_runs([tmp_path / "nope"])
    write_run(tmp_path / "r", ["seed=0"], "walker_walk", 0, [1.0], [10])
    runs, issues = discover_runs([tmp_path])
    with pytest.raises(ValueError, match=r"unknown metric 'eval/return'.*eval/return_mean"):
        summarize(runs, issues, metric="eval/return")
