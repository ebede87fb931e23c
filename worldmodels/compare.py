"""Planning vs a learned policy, on ONE world model and the same evaluation seeds:

    python -m worldmodels.compare run=RUN_DIR [episodes=10] [seed=S] [device=auto|cpu|cuda]
        [trainer=debug] [planner settings for every planner, e.g. horizon=8]

Loads RUN_DIR/world_model.pt (and, for a Dreamer run, its actor and critic from the checkpoint)
and evaluates `episodes` episodes of each of these, episode k of every agent on env seed S + k
(default S: the run's seed + 10000, the seeds of its training evaluations):

    actor             the run's own actor (Dreamer runs)
    cem, mppi, random_shooting
                      planners with the settings of configs/agent/<name>.yaml
    mppi_actor_value  MPPI with 24 actor proposals and the critic as terminal value (TD-MPC2's
                      recipe; Dreamer runs)
    random            uniformly random actions

Writes RUN_DIR/compare.md, compare.csv (mean return with a 95% bootstrap interval over episodes,
ms per action on the device) and compare.png, and prints the table. `trainer=debug`: small planner
settings, 2 episodes of the debug trainer's length (seconds on CPU, for tests).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldmodels.agents.base import Agent
from worldmodels.agents.planners import PLANNERS
from worldmodels.agents.random import RandomAgent
from worldmodels.evaluate import (
    DEBUG_EPISODES,
    LoadedRun,
    UserError,
    build_planner,
    cli,
    debug_time_limit,
    int_arg,
    load_run,
    parse_args,
    planner_settings,
    run_episodes,
)
from worldmodels.train import resolve_device

#: TD-MPC2's number of policy proposals (debug: a few).
ACTOR_CANDIDATES = {"default": 24, "debug": 4}
COLUMNS = [
    "agent",
    "episodes",
    "return_mean",
    "return_ci_low",
    "return_ci_high",
    "return_std",
    "length_mean",
    "ms_per_action",
]


def contenders(
    loaded: LoadedRun, overrides: dict[str, Any], debug: bool, device: torch.device
) -> list[tuple[str, Callable[[], Agent]]]:
    """(name, builder) of every agent compared on this run, in table order."""
    wm = loaded.world_model
    rows: list[tuple[str, Callable[[], Agent]]] = []
    if loaded.agent is not None:
        actor_agent = loaded.agent
        rows.append(("actor", lambda: actor_agent))
    for name in PLANNERS:
        settings = planner_settings(name, overrides, debug)
        rows.append((name, lambda s=settings: build_planner(loaded, s, device)))  # type: ignore[misc]
    if loaded.agent is not None:
        extra = {
            "actor_candidates": ACTOR_CANDIDATES["debug" if debug else "default"],
            "terminal_value": True,
        }
        settings = planner_settings("mppi", {**extra, **overrides}, debug)
        rows.append(("mppi_actor_value", lambda: build_planner(loaded, settings, device)))
    rows.append(("random", lambda: RandomAgent(wm.obs_spec, wm.act_spec, device)))
    return rows


def summarize(name: str, result: dict[str, Any]) -> list[Any]:
    """One table row (COLUMNS) from `run_episodes`' result."""
    from worldmodels.analysis.aggregate import bootstrap_mean_ci

    returns = np.asarray(result["returns"], np.float64)
    lo, hi = bootstrap_mean_ci(returns)
    return [
        name,
        len(returns),
        float(returns.mean()),
        lo,
        hi,
        float(returns.std()),
        float(np.mean(result["lengths"])),
        result["ms_per_action"],
    ]


def write_report(loaded: LoadedRun, rows: list[list[Any]], header: str) -> list[Path]:
    """compare.csv (raw numbers), compare.md (header + rounded table) and compare.png."""
    from worldmodels.analysis.tables import Table, to_markdown, write_csv

    run_dir = loaded.run_dir
    csv_path = write_csv(Table(COLUMNS, rows), run_dir / "compare.csv")
    shown = Table(
        ["agent", "return (mean [95% CI])", "std", "episode length", "ms/action"],
        [[r[0], f"{r[2]:.4g} [{r[3]:.4g}, {r[4]:.4g}]", r[5], r[6], r[7]] for r in rows],
    )
    table = to_markdown(shown)
    md_path = run_dir / "compare.md"
    md_path.write_text(f"{header}\n\n{table}\n")
    print(table, flush=True)
    return [
        csv_path,
        md_path,
        plot(rows, run_dir / "compare.png", header.splitlines()[0].lstrip("# ")),
    ]


def plot(rows: list[list[Any]], path: Path, title: str) -> Path:
    """Bar chart of mean returns with their 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")  # headless: written to a file, never shown
    import matplotlib.pyplot as plt

    names = [r[0] for r in rows]
    mean = np.array([r[2] for r in rows])
    err = np.array([[m - r[3] for m, r in zip(mean, rows)], [r[4] - m for m, r in zip(mean, rows)]])
    fig, ax = plt.subplots(figsize=(1.3 * len(rows) + 2, 3.5))
    ax.bar(names, mean, yerr=err, capsize=4, color=plt.get_cmap("tab10")(np.arange(len(rows))))
    ax.set_ylabel("episode return (95% CI)")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def compare_run(argv: list[str]) -> list[list[Any]]:
    """The command: see the module docstring. Returns the table rows (COLUMNS)."""
    own, overrides = parse_args(argv, ("run", "episodes", "seed", "device", "trainer"))
    if "run" not in own:
        raise UserError("missing run=RUN_DIR (a run dir written by worldmodels.train)")
    debug = own.get("trainer") == "debug"
    device = resolve_device(own.get("device", "auto"))
    episodes = int_arg(own, "episodes", DEBUG_EPISODES if debug else 10)
    for name in PLANNERS:  # bad settings fail before any model is loaded
        planner_settings(name, overrides, debug)
    loaded = load_run(own["run"], device, debug_time_limit() if debug else None)
    try:
        seed = int_arg(own, "seed", int(loaded.config.get("seed", 0)) + 10_000)
        rows = []
        for name, build in contenders(loaded, overrides, debug, device):
            rows.append(summarize(name, run_episodes(build(), loaded.envs, episodes, seed)))
    finally:
        loaded.close()
    env = loaded.config["env"]
    params = sum(p.numel() for p in loaded.world_model.parameters())
    cfg = planner_settings("cem", overrides, debug)
    header = (
        f"# Planning vs learned policy: {env['suite']}:{env['task']}, {loaded.run_dir}\n\n"
        f"One world model ({params / 1e6:.2f}M parameters, {loaded.run_dir}/world_model.pt) "
        f"for every agent; {episodes} episodes each on the same env seeds "
        f"{seed}..{seed + episodes - 1}; device {device}. Planners: horizon {cfg['horizon']}, "
        f"{cfg['candidates']} candidates, {cfg['iterations']} iterations, top {cfg['elites']} "
        f"(random shooting: 1 iteration). Return: mean over episodes with a 95% bootstrap "
        f"interval; ms/action: median wall time of one `act` (filter + plan) for one env."
    )
    paths = write_report(loaded, rows, header)
    print("wrote " + ", ".join(str(p) for p in paths), flush=True)
    return rows


if __name__ == "__main__":
    cli("worldmodels.compare", compare_run)
