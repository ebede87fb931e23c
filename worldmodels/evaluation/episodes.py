"""Timed evaluation episodes of any agent on fixed env seeds, and their summary."""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import torch

from worldmodels.agents.base import ActMode, Agent


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


#: below this many episodes a 95% interval of the mean says little: `summarize` warns
MIN_EPISODES_FOR_CI = 5


def run_episodes(
    agent: Agent, envs: Any, episodes: int, seed: int, video_episodes: int = 0
) -> dict[str, Any]:
    """`episodes` eval-mode episodes, episode k on env seed `seed + k` (torch seeded alike), one
    env. Returns per-episode "returns" and "lengths", "ms_per_action", the median wall time of
    one `act` (the first excluded: it carries compilation and warm-up), and "videos": the frames
    (uint8 [T, H, W, C]) of the first `video_episodes` episodes when the env has pixels."""
    from worldmodels.training.evaluate import evaluate

    timed = TimedAgent(agent)
    returns, lengths, videos = [], [], []
    for k in range(episodes):
        torch.manual_seed(seed + k)
        record = k < video_episodes
        metrics, frames = evaluate(timed, envs, 1, seed=seed + k, record_video=record)
        returns.append(metrics["eval/return_mean"])
        lengths.append(metrics["eval/length_mean"])
        if record and frames is not None:
            videos.append(frames)
    times = timed.times[1:] or timed.times
    return {
        "returns": returns,
        "lengths": lengths,
        "ms_per_action": 1e3 * float(np.median(times)),
        "videos": videos,
    }


def summarize(result: dict[str, Any], warn: bool = True) -> dict[str, Any]:
    """Mean return with a 95% bootstrap interval over episodes (None for a single episode; a
    warning on stderr below MIN_EPISODES_FOR_CI), std and mean length."""
    from worldmodels.analysis.aggregate import bootstrap_mean_ci

    returns = np.asarray(result["returns"], np.float64)
    n = len(returns)
    ci = list(bootstrap_mean_ci(returns)) if n >= 2 else None
    if warn and n < MIN_EPISODES_FOR_CI:
        print(
            f"warning: {n} episode(s): a 95% interval needs at least {MIN_EPISODES_FOR_CI} to "
            "mean much (episodes=N runs more)",
            file=sys.stderr,
            flush=True,
        )
    return {
        "episodes": n,
        "return_mean": float(returns.mean()),
        "return_ci95": ci,
        "return_std": float(returns.std()),
        "length_mean": float(np.mean(result["lengths"])),
        "ms_per_action": result["ms_per_action"],
    }
