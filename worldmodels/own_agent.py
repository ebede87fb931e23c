"""Evaluate a run's own agent from its checkpoint: SAC's, TD3's or PPO's actor, DQN's greedy
policy, Dreamer's actor, a planner with its own settings, a latent head with its world model.

The agent is rebuilt from the checkpoint's config (`state["config"]["agent"]`: what ran, with any
world-model ablation merged) for the run's env specs, its weights loaded, and it acts in "eval"
mode (each head's deterministic choice: the actor's mode, the greedy action, the plan's mean).
Video: for an env without pixels in its observations the evaluation env is built with
`obs=both`, so the frames come from the env's own renderer (dm_control, MuJoCo gym envs, classic
control with pygame) while the agent reads only its observation keys.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldmodels.agents.base import ActMode, Agent, build_agent
from worldmodels.envs.spaces import IMAGE_KEY
from worldmodels.errors import UserError


@dataclass
class Episodes:
    """Per-episode results of `run_episodes`."""

    seeds: list[int]
    returns: list[float]
    lengths: list[int]
    ms_per_action: float  # median wall time of one act call (the first excluded: warm-up)
    videos: list[np.ndarray]  # uint8 [T, H, W, C], one per recorded episode


class TimedAgent(Agent):
    """Delegates to `agent`, recording the wall time of every `act` call (synchronized on CUDA)."""

    def __init__(self, agent: Agent):
        super().__init__(agent.obs_spec, agent.act_spec, agent.device)
        self.agent, self.data = agent, agent.data
        self.times: list[float] = []  # seconds per act call

    def init_state(self, batch_size: int) -> Any:
        return self.agent.init_state(batch_size)

    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        start = time.perf_counter()
        out = self.agent.act(obs, state, mode)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.times.append(time.perf_counter() - start)
        return out


def run_episodes(
    agent: Agent, envs: Any, episodes: int, seed: int, video_episodes: int = 0
) -> Episodes:
    """`episodes` eval episodes on a 1-env VecEnv, episode k on env seed `seed + k` (torch seeded
    alike, so a stochastic planner repeats too); the first `video_episodes` keep their frames."""
    from worldmodels.training.evaluate import evaluate

    timed = TimedAgent(agent)
    out = Episodes([], [], [], 0.0, [])
    for k in range(episodes):
        torch.manual_seed(seed + k)
        record = k < video_episodes
        metrics, frames = evaluate(timed, envs, 1, seed=seed + k, record_video=record)
        out.seeds.append(seed + k)
        out.returns.append(metrics["eval/return_mean"])
        out.lengths.append(int(metrics["eval/length_mean"]))
        if record and frames is not None:
            out.videos.append(frames)
    times = timed.times[1:] or timed.times
    out.ms_per_action = 1e3 * float(np.median(times)) if times else float("nan")
    return out


def run_config(run_dir: str | Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """(run dir, the checkpoint's state, its config) of a run dir with a checkpoint; UserError
    (one line) otherwise."""
    from worldmodels.training import checkpoint

    path = Path(run_dir)
    if not path.is_dir():
        raise UserError(f"checkpoint={path}: no such run dir; pass a dir worldmodels.train wrote")
    if not checkpoint.has_checkpoint(path):
        raise UserError(
            f"checkpoint={path}: no checkpoint/ in it (a run writes one every "
            "trainer.checkpoint_every frames and at its end)"
        )
    state, _ = checkpoint.load(path)
    return path, state, state["config"]


def video_env_config(env_cfg: dict[str, Any], video: bool) -> dict[str, Any]:
    """The evaluation env: the run's, plus rendered frames (obs=both) when a video is asked for
    and the run learned from state only."""
    cfg = dict(env_cfg)
    if video and cfg.get("obs", "pixels" if cfg.get("suite") == "dmc" else "proprio") == "proprio":
        cfg["obs"] = "both"
    return cfg


def load_own_agent(
    state: dict[str, Any], obs_spec: Any, act_spec: Any, device: torch.device
) -> Agent:
    """The checkpoint's agent, rebuilt from its config for these specs, with its weights."""
    agent = build_agent(state["config"]["agent"], obs_spec, act_spec, device)
    agent.load_state_dict(state["agent"])
    return agent


def make_eval_env(
    env_cfg: dict[str, Any], seed: int, time_limit: int | None, video: bool
) -> tuple[Any, bool]:
    """A 1-env VecEnv for evaluation; with `video`, one that renders where the env can (an env
    that cannot: a warning, and the evaluation runs without video). Returns (envs, renders)."""
    from worldmodels.envs.make import make_vec_env

    if video:
        try:
            envs = make_vec_env(
                video_env_config(env_cfg, True), 1, seed, asynchronous=False, time_limit=time_limit
            )
            return envs, IMAGE_KEY in envs.obs_spec
        except (ValueError, ImportError, RuntimeError) as err:
            print(
                f"warning: video=true but this env cannot render here ({err}); no video",
                file=sys.stderr,
                flush=True,
            )
    return make_vec_env(env_cfg, 1, seed, asynchronous=False, time_limit=time_limit), False


def evaluate_own_agent(
    run_dir: str | Path,
    episodes: int,
    seed: int | None,
    device: torch.device,
    video: bool = False,
    video_format: str = "mp4",
    video_episodes: int = 1,
    time_limit: int | None = None,
) -> dict[str, Any]:
    """Evaluates the run's own agent; writes RUN_DIR/eval_agent.json (mean return, 95% interval,
    per-episode returns, ms per action, what ran), RUN_DIR/eval_agent.csv (one row per episode)
    and, with `video`, RUN_DIR/videos/eval_agent_ep<k>.<mp4|gif>. Returns the JSON's content."""
    from worldmodels import episode_report
    from worldmodels.envs.make import env_specs

    if episodes < 1:
        raise UserError(f"episodes={episodes}: must be >= 1")
    if video_format not in episode_report.VIDEO_FORMATS:
        raise UserError(
            f"video_format={video_format!r}; valid: {', '.join(episode_report.VIDEO_FORMATS)}"
        )
    path, state, config = run_config(run_dir)
    env_cfg = dict(config["env"])
    seed = int(config.get("seed", 0)) + 10_000 if seed is None else seed  # training evals' seeds
    limit = time_limit if time_limit is not None else config.get("trainer", {}).get("time_limit")
    obs_spec, act_spec = env_specs(env_cfg)
    agent = load_own_agent(state, obs_spec, act_spec, device)
    envs, renders = make_eval_env(env_cfg, seed, limit, video)
    try:
        result = run_episodes(agent, envs, episodes, seed, video_episodes if renders else 0)
    finally:
        envs.close()
    summary = episode_report.summarize(result.returns, result.lengths)
    videos = [
        str(episode_report.write_video(path / "videos" / f"eval_agent_ep{k}", frames, video_format))
        for k, frames in enumerate(result.videos)
    ]
    out = {
        "agent": config["agent"].get("_target_"),
        "mode": "eval",
        "run_dir": str(path),
        "env": f"{env_cfg.get('suite')}:{env_cfg.get('task')}",
        "checkpoint_env_frames": int(state.get("counters", {}).get("env_frames", -1)),
        "seeds": result.seeds,
        **summary,
        "ms_per_action": result.ms_per_action,
        "device": str(device),
        "videos": videos,
    }
    episode_report.write_json(path / "eval_agent.json", out)
    episode_report.write_episode_csv(
        path / "eval_agent.csv", result.seeds, result.returns, result.lengths
    )
    ci = summary["return_ci95"]
    interval = f" [{ci[0]:.2f}, {ci[1]:.2f}] (95% CI)" if ci else ""
    print(
        f"{out['agent']} on {path} ({out['env']}, {episodes} episodes, seeds {seed}.."
        f"{seed + episodes - 1}): return {summary['return_mean']:.2f}{interval}, "
        f"{result.ms_per_action:.2f} ms/action on {device} -> {path / 'eval_agent.json'}"
        + (f", {len(videos)} video(s) in {path / 'videos'}" if videos else ""),
        flush=True,
    )
    return out
