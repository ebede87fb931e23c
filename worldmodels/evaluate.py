"""Act with a planner through the world model of an earlier run (no training); a Hydra app
(configs/commands/evaluate.yaml, `--help`, `--cfg job`):

    python -m worldmodels.evaluate checkpoint=RUN_DIR agent=cem [horizon=8 | agent.horizon=8 ...]
        [episodes=10] [seed=S] [device=auto|cpu|cuda] [trainer=debug]

Rebuilds the env from RUN_DIR/config.yaml, the run's agent from its checkpoint and the world model
(the agent's, or RUN_DIR/world_model.pt), plans with configs/agent/<agent>.yaml's planner settings
(plus overrides), runs `episodes` evaluation episodes (eval mode, env seeds S .. S+N-1; default
S = the run's seed + 10000, the seeds of its training evaluations), prints the result and writes
RUN_DIR/eval_<agent>.json. When the run's agent offers a planning prior (Dreamer: its actor and
critic), `actor_candidates=24 terminal_value=true` plans with it. `trainer=debug`: small planner
settings and the debug trainer's short episodes (seconds on CPU). The library under it (loading a
run, timed episodes, planners on a run's world model) is worldmodels/evaluation/.
"""

from __future__ import annotations

import json
from typing import Any

import hydra
from omegaconf import DictConfig

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
from worldmodels.evaluation.episodes import run_episodes, summarize
from worldmodels.evaluation.planners import build_planner, planner_settings
from worldmodels.evaluation.runs import load_run
from worldmodels.train import resolve_device

NAME = "evaluate"


def evaluate_cfg(cfg: DictConfig) -> dict[str, Any]:
    """The command on a composed configs/commands/evaluate.yaml. Returns what it writes to
    RUN_DIR/eval_<agent>.json."""
    if not cfg.checkpoint:
        raise UserError("missing checkpoint=RUN_DIR (a run dir written by worldmodels.train)")
    name, debug = str(cfg.agent), is_debug(cfg)
    settings = planner_settings(name, planner_overrides(cfg), debug)
    device = resolve_device(str(cfg.device))
    loaded = load_run(cfg.checkpoint, device, debug_time_limit() if debug else None)
    try:
        episodes = int_option(cfg, "episodes", DEBUG_EPISODES if debug else 10)
        seed = int_option(cfg, "seed", int(loaded.config.get("seed", 0)) + 10_000)
        agent = build_planner(loaded, settings, device)
        result = run_episodes(agent, loaded.envs, episodes, seed)
    finally:
        loaded.close()
    summary = summarize(result)
    out = {
        "agent": name,
        "run_dir": str(loaded.run_dir),
        "seeds": [seed, seed + episodes - 1],
        **summary,
        **result,
        "device": str(device),
        "planner": agent.hyperparameters(),
        "uses_actor": agent.planner.proposals > 0,
        "uses_value": agent.planner.value is not None,
    }
    path = loaded.run_dir / f"eval_{name}.json"
    path.write_text(json.dumps(out, indent=2))
    env = loaded.config["env"]
    lo, hi = summary["return_ci95"]
    print(
        f"{name} on {loaded.run_dir} ({env['suite']}:{env['task']}, {episodes} episodes, seeds "
        f"{seed}..{seed + episodes - 1}): return {out['return_mean']:.2f} "
        f"[{lo:.2f}, {hi:.2f}] (95% CI), "
        f"{result['ms_per_action']:.2f} ms/action on {device} -> {path}",
        flush=True,
    )
    return out


def evaluate_run(args: list[str]) -> dict[str, Any]:
    """In-process entry (tests, notebooks): the command line `args` (KEY=VALUE) composed and run."""
    return evaluate_cfg(compose_command(NAME, args))


@hydra.main(version_base="1.3", config_path=COMMANDS_DIR, config_name=NAME)
def main(cfg: DictConfig) -> None:
    with command_errors(NAME):
        evaluate_cfg(cfg)


if __name__ == "__main__":
    cli(NAME, main)
