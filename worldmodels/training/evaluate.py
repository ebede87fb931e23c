"""Deterministic evaluation episodes (agent in "eval" mode) with fixed seeds, and a video."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from worldmodels.agents.base import Agent
from worldmodels.envs.spaces import IMAGE_KEY


def evaluate(
    agent: Agent,
    envs: Any,
    episodes: int,
    seed: int,
    record_video: bool = True,
    max_steps: int = 100_000,
) -> tuple[dict[str, float], np.ndarray | None]:
    """Runs `episodes` full episodes on a VecEnv (one per env per round, rounds reseeded from
    `seed`, so every evaluation of a run sees the same start states).

    Returns ({"eval/return_mean", "eval/return_std", "eval/length_mean", "eval/episodes"}, frames of
    the first episode uint8 [T, H, W, C] or None when the env has no pixels or video is off).
    """
    returns: list[float] = []
    lengths: list[int] = []
    frames: list[np.ndarray] = []
    n = envs.num_envs
    rounds = -(-episodes // n)
    for r in range(rounds):
        row = envs.reset(seed=seed + r * n)
        state = agent.init_state(n)
        done = np.zeros(n, bool)
        ret = np.zeros(n, np.float64)
        length = np.zeros(n, np.int64)
        for _ in range(max_steps):
            ret += np.where(done, 0.0, row["reward"])
            if record_video and r == 0 and IMAGE_KEY in row and not done[0]:
                frames.append(row[IMAGE_KEY][0])
            done |= row["is_last"]
            length += ~done
            if done.all():
                break
            obs = {k: torch.as_tensor(row[k], device=agent.device) for k in agent.obs_spec}
            obs["is_first"] = torch.as_tensor(row["is_first"], device=agent.device)
            with torch.no_grad():
                action, state = agent.act(obs, state, "eval")
            row = envs.step(action.detach().to("cpu", torch.float32).numpy())
        take = min(n, episodes - r * n)
        returns.extend(ret[:take].tolist())
        lengths.extend(length[:take].tolist())
    metrics = {
        "eval/return_mean": float(np.mean(returns)),
        "eval/return_std": float(np.std(returns)),
        "eval/length_mean": float(np.mean(lengths)),
        "eval/episodes": float(len(returns)),
    }
    video = np.stack(frames) if frames else None
    return metrics, video
