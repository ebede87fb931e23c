"""Evaluate a run: its own agent, or a planner on its world model (no training); a Hydra app
(configs/commands/evaluate.yaml, `--help`, `--cfg job`):

    python -m worldmodels.evaluate checkpoint=RUN_DIR [agent=cem|mppi|random_shooting]
        [episodes=10] [seed=S] [video=true] [video_format=mp4|gif] [video_episodes=1]
        [horizon=8 | agent.horizon=8 ...] [device=auto|cpu|cuda] [trainer=debug]

Without `agent=`, the run's own agent is rebuilt from its checkpoint (config and weights) and acts
in eval mode: SAC/TD3/PPO's actor, DQN's greedy action, Dreamer's actor, a planner run's planner
with its own settings, a latent head with its world model. With `agent=cem|mppi|random_shooting`,
that planner plans through the run's world model (the agent's, or RUN_DIR/world_model.pt) with
configs/agent/<agent>.yaml's settings plus overrides; when the run's agent offers a planning prior
(Dreamer: its actor and critic), `actor_candidates=24 terminal_value=true` plans with it.
`episodes` evaluation episodes run on env seeds S .. S+N-1 (default S = the run's seed + 10000, the
seeds of its training evaluations). Writes RUN_DIR/eval_<name>.json (mean return with a 95%
bootstrap interval, per-episode returns, ms per action, what ran; <name> is `agent` for the run's
own agent, else the planner), RUN_DIR/eval_<name>.csv (one row per episode) and, with
`video=true`, RUN_DIR/videos/eval_<name>_ep<k>.mp4 for any env that renders, pixels or not.
`trainer=debug`: small planner settings and the debug trainer's short episodes (seconds on CPU).
The library under it (loading a run, timed episodes, planners, outputs) is worldmodels/evaluation/.
"""

from __future__ import annotations

import sys
from typing import Any

import hydra
from omegaconf import DictConfig

from worldmodels.agents.planners import PLANNERS
from worldmodels.errors import UserError
from worldmodels.evaluation import outputs
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
    RUN_DIR/eval_<name>.json."""
    if not cfg.checkpoint:
        raise UserError("missing checkpoint=RUN_DIR (a run dir written by worldmodels.train)")
    debug, own = is_debug(cfg), cfg.agent is None
    video_format = str(cfg.video_format)
    if video_format not in outputs.VIDEO_FORMATS:
        raise UserError(f"video_format={video_format!r}; valid: {', '.join(outputs.VIDEO_FORMATS)}")
    video_episodes = int_option(cfg, "video_episodes", 1) if cfg.video else 0
    name = "agent" if own else str(cfg.agent)
    if not own and name not in PLANNERS:
        raise UserError(
            f"unknown agent {name!r}; valid: {', '.join(PLANNERS)} (a planner on the run's world "
            "model), or no agent= for the run's own agent"
        )
    overrides = planner_overrides(cfg)
    settings = None if own else planner_settings(name, overrides, debug)
    if own and overrides:
        raise UserError(
            f"planner settings {sorted(overrides)} need agent=cem|mppi|"
            "random_shooting (the run's own agent keeps its own settings)"
        )
    device = resolve_device(str(cfg.device))
    loaded = load_run(
        cfg.checkpoint, device, debug_time_limit() if debug else None, video=bool(cfg.video)
    )
    try:
        episodes = int_option(cfg, "episodes", DEBUG_EPISODES if debug else 10)
        seed = int_option(cfg, "seed", int(loaded.config.get("seed", 0)) + 10_000)
        if own:
            agent: Any = loaded.require_agent()
        else:
            assert settings is not None
            agent = build_planner(loaded, settings, device)
        result = run_episodes(agent, loaded.envs, episodes, seed, video_episodes)
    finally:
        loaded.close()
    videos = [
        str(outputs.write_video(loaded.run_dir / "videos" / f"eval_{name}_ep{k}", f, video_format))
        for k, f in enumerate(result.pop("videos"))
    ]
    if cfg.video and not videos:
        print("warning: video=true, but the env gave no frames; no video", file=sys.stderr)
    summary = summarize(result)
    seeds = list(range(seed, seed + episodes))
    env = loaded.config["env"]
    out = {
        "agent": name if not own else loaded.config.get("agent", {}).get("_target_"),
        "mode": "eval",
        "run_dir": str(loaded.run_dir),
        "env": f"{env['suite']}:{env['task']}",
        "seeds": seeds,
        **summary,
        **result,
        "device": str(device),
        "videos": videos,
    }
    if not own:
        out.update(
            planner=agent.hyperparameters(),
            uses_actor=agent.planner.proposals > 0,
            uses_value=agent.planner.value is not None,
        )
    path = outputs.write_json(loaded.run_dir / f"eval_{name}.json", out)
    outputs.write_episode_csv(
        loaded.run_dir / f"eval_{name}.csv", seeds, result["returns"], result["lengths"]
    )
    ci = summary["return_ci95"]
    interval = f" [{ci[0]:.2f}, {ci[1]:.2f}] (95% CI)" if ci else ""
    print(
        f"{out['agent']} on {loaded.run_dir} ({out['env']}, {episodes} episodes, seeds "
        f"{seed}..{seed + episodes - 1}): return {out['return_mean']:.2f}{interval}, "
        f"{result['ms_per_action']:.2f} ms/action on {device} -> {path}"
        + (f", {len(videos)} video(s) in {loaded.run_dir / 'videos'}" if videos else ""),
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
