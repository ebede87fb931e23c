"""Everything a run needs to resume exactly, in one place: what the loop writes into a checkpoint
(`save`) and how it reads it back (`restore`). The entries: the saved config, the agent's state
and parameter signature, the loop's counters, clocks, RNGs (torch/numpy/python, the prefill
sampler, the envs), the pending row and act state, the episode tracker, the train-ratio
measurement, and the store's state (its clock, a rollout in progress); the store's bulk rows (the
replay) go beside it (trainer.save_replay).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from worldmodels.training import checkpoint, optim_settings
from worldmodels.training.health import check_health as check_losses_and_weights
from worldmodels.training.store_files import restore_store_files

if TYPE_CHECKING:
    from worldmodels.training.loop import Loop


def save(loop: Loop) -> None:
    """Writes RUN_DIR/checkpoint for `loop` now (atomically; training/checkpoint.py)."""
    store, agent = loop.store, loop.agent
    state = {
        "config": loop.saved_config,
        "signature": agent.config_signature(),
        "agent": agent.state_dict(),
        "counters": dict(loop.counters),
        "clocks": {k: c.state_dict() for k, c in loop.clocks.items()},
        "store": store.state_dict(),
        "rng": checkpoint.rng_state(),
        "loop_rng": loop.rng.bit_generator.state,
        "env_rng": loop.envs.get_rng_state(),
        "pending": loop.pending,
        "act_state": loop.act_state,
        "episodes": loop.episodes.state_dict(),
        "train": dict(loop.train),
        **store.extra_checkpoint_state(),
    }
    info = {
        "env_frames": loop.counters["env_frames"],
        # resumes exactly when every env's pending row ends its episode (see `restore`)
        "exact": bool(np.asarray(loop.pending["is_last"]).all()) if loop.pending else False,
        "store": type(store).__name__,
    }
    files = store if loop.cfg.save_replay and store.has_files else None
    checkpoint.save(loop.run_dir, state, files, info)


def restore(loop: Loop, state: dict[str, Any], ckpt_dir: Path | None) -> None:
    """Puts `loop` (freshly built, same config) where the checkpoint `state` left it."""
    if "store" not in state:
        raise checkpoint.CheckpointError(
            f"the checkpoint in {ckpt_dir} was written by an older version of the training loop "
            "(no 'store' entry) and cannot be resumed; start a new run"
        )
    agent = loop.agent
    fresh_settings = optim_settings.snapshot(agent)
    agent.load_state_dict(state["agent"])
    if loop.resume.new_optimizer_settings:
        optim_settings.restore(agent, fresh_settings)
    loop.counters.update(state["counters"])
    for k, c in loop.clocks.items():
        c.load_state_dict(state["clocks"][k])
    loop.store.load_state_dict(state["store"])
    loop.rng.bit_generator.state = state["loop_rng"]
    loop.act_state, loop.train = state["act_state"], dict(state["train"])
    loop.episodes.load_state_dict(state["episodes"])
    loop.episodes.count = loop.counters["episodes"]
    restore_store_files(loop.store, ckpt_dir, loop.resume.allow_empty_replay)
    # The envs were rebuilt and their RNGs restored. A pending row that ends its episode is
    # exact: the next env call is the reset the vector env would have made. Episodes in
    # progress cannot be restored: they end as truncations and every env starts afresh.
    loop.envs.reset(seed=loop.seed)
    loop.envs.set_rng_state(state["env_rng"])
    if state["pending"]["is_last"].all():
        loop.pending, loop.needs_reset = state["pending"], True
    else:
        loop.store.end_episodes()
        loop.pending = loop.envs.reset()
        loop.act_state = agent.init_state(loop.num_envs)
    checkpoint.set_rng_state(state["rng"])
    frame = loop.counters["env_frames"]
    loop.last_eval_frame = loop.last_ckpt_frame = frame
    loop.last_log = (time.time(), frame, loop.counters["grad_steps"])


def check_health(loop: Loop, losses: dict[str, float]) -> None:
    """Every loss finite, every network's weights finite and bounded (NonFiniteLossError, whose
    message says whether the last good checkpoint is kept)."""
    c, run_dir = loop.counters, loop.run_dir
    where = f"env frame {c['env_frames']} (grad step {c['grad_steps']})"
    kept = f"the last good checkpoint in {checkpoint.checkpoint_dir(run_dir)} is kept"
    note = kept if checkpoint.has_checkpoint(run_dir) else "no checkpoint was written before"
    check_losses_and_weights(losses, loop.agent, loop.cfg.param_norm_limit, where, note)
