"""Planning vs the run's own agent, on ONE world model and the same evaluation seeds; a Hydra app
(configs/commands/compare.yaml, `--help`, `--cfg job`):

    python -m worldmodels.compare checkpoint=RUN_DIR [episodes=10] [seed=S] [device=auto|cpu|cuda]
        [trainer=debug] [planner settings for every planner, e.g. horizon=8]

`run=RUN_DIR` names the run dir too. Works on every run that has a world model: Dreamer, the
planners, and SAC/TD3/DQN/PPO with agent.input=latent (a run of a head that acts on raw
observations has none: a one-line error says so). Evaluates `episodes` episodes of each of these,
episode k of every agent on env seed S + k (default S: the run's seed + 10000, the seeds of its
training evaluations):

    actor             the run's own agent, with its checkpoint's weights
    cem, mppi, random_shooting
                      planners with the settings of configs/agent/<name>.yaml
    mppi_actor_value  MPPI with 24 proposals of the agent's planning prior and its terminal value
                      (TD-MPC2's recipe; only for agents that offer one: Dreamer)
    random            uniformly random actions

Writes RUN_DIR/compare.md, compare.csv (mean return with a 95% bootstrap interval over episodes,
ms per action on the device) and compare.png, and prints the table. `trainer=debug`: small planner
settings, 2 episodes of the debug trainer's length (seconds on CPU, for tests).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from worldmodels.agents.base import Agent
from worldmodels.agents.planners import PLANNERS
from worldmodels.agents.random import RandomAgent
from worldmodels.errors import UserError
from worldmodels.evaluation.command import (
    COMMANDS_DIR,
    DEBUG_EPISODES,
    cli,
    command_errors,
    compose_command,
    debug_time_limit,
    int_option,
    is_debug,
    planner_overrides,
)
from worldmodels.evaluation.episodes import MIN_EPISODES_FOR_CI, run_episodes, summarize
from worldmodels.evaluation.planners import build_planner, planner_settings
from worldmodels.evaluation.runs import LoadedRun, load_run
from worldmodels.train import resolve_device

NAME = "compare"
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
    wm = loaded.require_world_model()
    rows: list[tuple[str, Callable[[], Agent]]] = []
    if loaded.agent is not None:
        own = loaded.agent
        rows.append(("actor", lambda: own))
    for name in PLANNERS:
        settings = planner_settings(name, overrides, debug)
        rows.append((name, lambda s=settings: build_planner(loaded, s, device)))  # type: ignore[misc]
    if loaded.planning_prior() is not None:
        extra = {
            "actor_candidates": ACTOR_CANDIDATES["debug" if debug else "default"],
            "terminal_value": True,
        }
        settings = planner_settings("mppi", {**extra, **overrides}, debug)
        rows.append(("mppi_actor_value", lambda: build_planner(loaded, settings, device)))
    rows.append(("random", lambda: RandomAgent(wm.obs_spec, wm.act_spec, device)))
    return rows


def table_row(name: str, result: dict[str, Any]) -> list[Any]:
    """One table row (COLUMNS) from `run_episodes`' result."""
    s = summarize(result, warn=False)  # compare warns once for all rows
    lo, hi = s["return_ci95"] or (float("nan"), float("nan"))
    return [name, s["episodes"], s["return_mean"], lo, hi, s["return_std"], s["length_mean"],
            s["ms_per_action"]]  # fmt: skip


def write_report(
    loaded: LoadedRun, rows: list[list[Any]], header: str, settings: str = ""
) -> list[Path]:
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
        plot(rows, run_dir / "compare.png", header.splitlines()[0].lstrip("# "), settings),
    ]


def plot(rows: list[list[Any]], path: Path, title: str, settings: str = "") -> Path:
    """Bar chart of mean returns with their 95% intervals, each bar labelled with its ms per
    action; `settings` (episodes, seeds, planner budget) goes under the title."""
    import matplotlib

    matplotlib.use("Agg")  # headless: written to a file, never shown
    import matplotlib.pyplot as plt

    mean = np.array([r[2] for r in rows])
    err = np.array([[m - r[3] for m, r in zip(mean, rows)], [r[4] - m for m, r in zip(mean, rows)]])
    fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 2, 3.8))
    # ms/action under each name: a label inside the bar collides with short or negative bars
    labels = [f"{r[0]}\n{r[7]:.3g} ms/action" for r in rows]
    ax.bar(labels, mean, yerr=err, capsize=4, color=plt.get_cmap("tab10")(np.arange(len(rows))))
    ax.axhline(0.0, color="0.5", lw=0.6)
    ax.set_ylabel("episode return (mean, 95% CI)")
    ax.set_xlabel("agent (one world model)")
    ax.set_title(f"{title}\n{settings}" if settings else title, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def compare_cfg(cfg: DictConfig) -> list[list[Any]]:
    """The command on a composed configs/commands/compare.yaml. Returns the table rows
    (COLUMNS)."""
    run_dir = cfg.checkpoint or cfg.run
    if not run_dir:
        raise UserError("missing checkpoint=RUN_DIR (a run dir written by worldmodels.train)")
    debug, overrides = is_debug(cfg), planner_overrides(cfg)
    device = resolve_device(str(cfg.device))
    episodes = int_option(cfg, "episodes", DEBUG_EPISODES if debug else 10)
    for name in PLANNERS:  # bad settings fail before any model is loaded
        planner_settings(name, overrides, debug)
    loaded = load_run(run_dir, device, debug_time_limit() if debug else None)
    try:
        seed = int_option(cfg, "seed", int(loaded.config.get("seed", 0)) + 10_000)
        rows = []
        for name, build in contenders(loaded, overrides, debug, device):
            rows.append(table_row(name, run_episodes(build(), loaded.envs, episodes, seed)))
    finally:
        loaded.close()
    env = loaded.config["env"]
    wm = loaded.require_world_model()
    params = sum(p.numel() for p in wm.parameters())
    planner = planner_settings("cem", overrides, debug)
    header = (
        f"# Planning vs learned policy: {env['suite']}:{env['task']}, {loaded.run_dir}\n\n"
        f"One world model ({type(wm).__name__}, {params / 1e6:.2f}M parameters, of the run's "
        f"{loaded.agent_name}) for every agent; {episodes} episodes each on the same env seeds "
        f"{seed}..{seed + episodes - 1}; device {device}. Planners: horizon {planner['horizon']}, "
        f"{planner['candidates']} candidates, {planner['iterations']} iterations, top "
        f"{planner['elites']} (random shooting: 1 iteration). Return: mean over episodes with a "
        f"95% bootstrap interval; ms/action: median wall time of one `act` (filter + plan) for "
        f"one env."
    )
    settings = (
        f"{episodes} episodes each, env seeds {seed}..{seed + episodes - 1}; planners: horizon "
        f"{planner['horizon']}, {planner['candidates']} candidates x {planner['iterations']} "
        f"iterations, top {planner['elites']}"
    )
    if episodes < MIN_EPISODES_FOR_CI:
        print(
            f"warning: {episodes} episode(s) per agent: a 95% interval needs at least "
            f"{MIN_EPISODES_FOR_CI} to mean much (episodes=N runs more)",
            file=sys.stderr,
            flush=True,
        )
    paths = write_report(loaded, rows, header, settings)
    print("wrote " + ", ".join(str(p) for p in paths), flush=True)
    return rows


def compare_run(args: list[str]) -> list[list[Any]]:
    """In-process entry (tests, notebooks): the command line `args` (KEY=VALUE) composed and run."""
    return compare_cfg(compose_command(NAME, args))


@hydra.main(version_base="1.3", config_path=COMMANDS_DIR, config_name=NAME)
def main(cfg: DictConfig) -> None:
    with command_errors(NAME):
        compare_cfg(cfg)


if __name__ == "__main__":
    cli(NAME, main)
