"""Group runs into (group, task) cells: a group is the set of Hydra overrides minus the seed, the
task and run-bookkeeping keys, so the seeds of one configuration land in one group.

Labels name a group by the overrides that tell it apart from the others (the shared ones are
listed once in the report), e.g. `ablation=no_free_nats` rather than the full override list.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from dataclasses import dataclass

from worldmodels.analysis.runs import Issue, Run

# Keys that do not change what is being measured. `env.task` is the task axis, `seed` the seed
# axis; the rest only say where/how a run is executed or logged.
DEFAULT_IGNORED_KEYS = (
    "seed",
    "env.task",
    "resume",
    "device",
    "run_dir",
    "resume_*",
    "trainer.stop_after",
    "hydra.*",
    "hydra/*",
    "logger.*",
)

GroupKey = tuple[str, ...]


def override_item(override: str) -> tuple[str, str]:
    """('ablation', 'no_free_nats') from '+ablation=no_free_nats'; Hydra's '+', '++' and '~'
    prefixes are dropped so that '+x=1' and 'x=1' group together."""
    body = override.lstrip("+~")
    key, sep, value = body.partition("=")
    return key.strip(), value.strip() if sep else ""


def group_key(overrides: list[str], ignored: tuple[str, ...] = DEFAULT_IGNORED_KEYS) -> GroupKey:
    """The sorted 'key=value' items of `overrides` whose key matches none of `ignored` (fnmatch)."""
    items = []
    for o in overrides:
        key, value = override_item(o)
        if any(fnmatch.fnmatchcase(key, pat) for pat in ignored):
            continue
        items.append(f"{key}={value}")
    return tuple(sorted(set(items)))


def group_labels(keys: list[GroupKey]) -> tuple[dict[GroupKey, str], tuple[str, ...]]:
    """A short label per group (its items not shared by every group) and the shared items."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return {}, ()
    common = set(unique[0]).intersection(*map(set, unique[1:])) if len(unique) > 1 else set()
    labels = {}
    for key in unique:
        own = [item for item in key if item not in common]
        labels[key] = " ".join(own) if own else "base"
    if len(unique) == 1:
        labels[unique[0]] = " ".join(unique[0]) or "default"
    return labels, tuple(sorted(common))


def _is_baseline(label: str) -> bool:
    """'base', 'default' or only '...=none' items: listed first, as the reference group."""
    return label in ("base", "default") or all(item.endswith("=none") for item in label.split())


@dataclass
class Cell:
    """The runs of one group on one task (one run per seed after de-duplication)."""

    group: str
    task: str
    suite: str
    runs: list[Run]

    @property
    def seeds(self) -> list[int]:
        return sorted(r.seed for r in self.runs if r.seed is not None)


@dataclass
class Grouping:
    """Runs arranged by group label then task, with the shared overrides and full group keys."""

    cells: dict[str, dict[str, Cell]]
    common: tuple[str, ...]
    keys: dict[str, GroupKey]

    @property
    def groups(self) -> list[str]:
        return list(self.cells)

    @property
    def tasks(self) -> list[str]:
        return sorted({t for by_task in self.cells.values() for t in by_task})


def group_runs(
    runs: list[Run], ignored: tuple[str, ...] = DEFAULT_IGNORED_KEYS
) -> tuple[Grouping, list[Issue]]:
    """Arrange `runs` into cells and report what a complete sweep would have and this one lacks:
    duplicate seeds (the run with more frames is kept), seeds one task has and another lacks, and
    tasks one group has and another lacks."""
    issues: list[Issue] = []
    keyed = [(group_key(r.overrides, ignored), r) for r in runs]
    labels, common = group_labels([k for k, _ in keyed])
    by_cell: dict[tuple[str, str], dict[int | None, Run]] = defaultdict(dict)
    for key, run in keyed:
        seeds = by_cell[(labels[key], run.task)]
        seed = run.seed
        if seed is not None and seed in seeds:
            old = seeds[seed]
            keep, drop = (run, old) if run.env_frames > old.env_frames else (old, run)
            seeds[seed] = keep
            issues.append(
                Issue(
                    str(drop.path),
                    "excluded",
                    f"duplicate of seed {seed} in {keep.path} (kept the one with more frames)",
                )
            )
            continue
        # Runs without a seed are still shown; they get a unique slot of their own.
        seeds[seed if seed is not None else -1 - len(seeds)] = run
    order = sorted(set(labels.values()), key=lambda g: (not _is_baseline(g), g))
    cells: dict[str, dict[str, Cell]] = {g: {} for g in order}
    for (group, task), seeds in sorted(by_cell.items()):
        rs = sorted(seeds.values(), key=lambda r: (r.seed is None, r.seed or 0, str(r.path)))
        cells[group][task] = Cell(group, task, rs[0].suite, rs)
    all_tasks = sorted({t for by_task in cells.values() for t in by_task})
    for group, by_task in cells.items():
        seeds_in_group = sorted({s for c in by_task.values() for s in c.seeds})
        for task in all_tasks:
            if task not in by_task:
                issues.append(
                    Issue(
                        group,
                        "missing",
                        f"group '{group}' has no runs on task {task} (other groups do)",
                    )
                )
                continue
            lacking = sorted(set(seeds_in_group) - set(by_task[task].seeds))
            if lacking:
                issues.append(
                    Issue(
                        group,
                        "missing",
                        f"group '{group}' task {task}: "
                        f"no run for seed(s) {', '.join(map(str, lacking))}",
                    )
                )
    keys = {labels[k]: k for k, _ in keyed}
    return Grouping(cells=cells, common=common, keys=keys), issues
