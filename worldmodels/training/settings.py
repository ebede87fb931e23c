"""The trainer's settings (the `trainer` config group) and how a resume treats a checkpoint."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainerConfig:
    """Plain copy of the `trainer` config group (see configs/trainer/default.yaml)."""

    steps: int
    prefill: int
    train_ratio: float
    num_envs: int
    async_envs: bool
    time_limit: int | None
    log_every: int
    eval_every: int
    eval_episodes: int
    checkpoint_every: int
    save_replay: bool = True
    #: stop this invocation (with a checkpoint) at this many env frames, to resume later: for
    #: time-sliced cluster jobs; the budget (`steps`) and the replay size stay those of the run
    stop_after: int | None = None
    #: a network whose parameters' global L2 norm exceeds this has diverged: the run stops
    param_norm_limit: float = 1e6
    progress: bool = True
    video: bool = True


@dataclass
class ResumeOptions:
    """How a resume treats what the checkpoint lacks or the command changes."""

    #: resume without the checkpoint's replay (resume_without_replay=true), else an error
    allow_empty_replay: bool = False
    #: keep the freshly built agent's optimizer settings (resume_new_optimizer_settings=true)
    new_optimizer_settings: bool = False
