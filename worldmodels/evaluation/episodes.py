"""Timed evaluation episodes of any agent on fixed env seeds, and their summary."""

from __future__ import annotations

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


def run_episodes(agent: Agent, envs: Any, episodes: int, seed: int) -> dict[str, Any]:
    """`episodes` eval-mode episodes, episode k on env seed `seed + k` (torch seeded alike), one
    env. Returns per-episode "returns" and "lengths", and "ms_per_action", the median wall time
    of one `act` (the first excluded: it carries compilation and warm-up)."""
    from worldmodels.training.evaluate import evaluate

    timed = TimedAgent(agent)
    returns, lengths = [], []
    for k in range(episodes):
        torch.manual_seed(seed + k)
        metrics, _ = evaluate(timed, envs, 1, seed=seed + k, record_video=False)
        returns.append(metrics["eval/return_mean"])
        lengths.append(metrics["eval/length_mean"])
    times = timed.times[1:] or timed.times
    return {"returns": returns, "lengths": lengths, "ms_per_action": 1e3 * float(np.median(times))}


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Mean return with a 95% bootstrap interval over episodes, std and mean length."""
    from worldmodels.analysis.aggregate import bootstrap_mean_ci

    returns = np.asarray(result["returns"], np.float64)
    lo, hi = bootstrap_mean_ci(returns)
    return {
        "episodes": len(returns),
        "return_mean": float(returns.mean()),
        "return_ci95": [lo, hi],
        "return_std": float(returns.std()),
        "length_mean": float(np.mean(result["lengths"])),
        "ms_per_action": result["ms_per_action"],
    }
