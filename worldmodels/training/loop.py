"""The training driver: env steps -> store -> updates at a train ratio -> log / eval / checkpoint.

It knows no algorithm: it talks to the Agent contract (worldmodels.agents.base), the VecEnv row
contract (worldmodels.envs.spaces) and the stores (replay for sequences and n-step transitions, the
rollout buffer for on-policy heads), and reads what to sample from `agent.data`.

Counters: `env_frames` (after action repeat; budgets and clocks count these), `policy_steps`
(agent decisions, summed over envs) and `grad_steps` (agent updates) appear in every log line.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldmodels.agents.base import Agent
from worldmodels.envs.spaces import sample_actions
from worldmodels.logger.metrics import Logger, MetricMean
from worldmodels.logger.openloop import openloop_video
from worldmodels.training import checkpoint, optim_settings
from worldmodels.training.clocks import Every, Ratio
from worldmodels.training.evaluate import evaluate
from worldmodels.training.health import NonFiniteLossError, check_health
from worldmodels.training.preemption import Preempted, StopSignals
from worldmodels.training.status import StatusFile


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


class Loop:
    """Drives one run. Build the parts (see worldmodels.train), then call `run()`."""

    def __init__(
        self,
        cfg: TrainerConfig,
        envs: Any,
        make_eval_envs: Any,
        agent: Agent,
        store: Any,
        logger: Logger,
        run_dir: Path,
        action_repeat: int,
        seed: int,
        saved_config: dict[str, Any],
    ):
        self.cfg = cfg
        self.envs = envs
        self.make_eval_envs = make_eval_envs
        self.eval_envs: Any = None
        self.agent = agent
        self.store = store
        self.logger = logger
        self.run_dir = Path(run_dir)
        self.action_repeat = action_repeat
        self.seed = seed
        self.saved_config = saved_config
        self.device = agent.device
        self.spec = agent.data
        self.num_envs = envs.num_envs
        self.counters = {"env_frames": 0, "policy_steps": 0, "grad_steps": 0, "episodes": 0}
        self.clocks: dict[str, Every] = {
            "log": Every(cfg.log_every),
            "eval": Every(cfg.eval_every),
            "checkpoint": Every(cfg.checkpoint_every),
        }
        self.train_clock = Ratio(cfg.train_ratio / max(self.spec.replayed_per_update, 1))
        self.metrics = MetricMean()
        self.rng = np.random.default_rng(seed + 12345)  # prefill actions
        self.pending: dict[str, np.ndarray] | None = None  # the row the agent acts on next
        self.act_state: Any = None
        self.ep_return = np.zeros(self.num_envs, np.float64)
        self.ep_length = np.zeros(self.num_envs, np.int64)
        self.last_return = float("nan")
        self.needs_reset = False
        self._train_rows = 0  # replayed rows, for the measured train ratio
        self._train_start_steps: int | None = None
        self._last_log = (time.time(), 0, 0)
        self._last_eval_frame = -1
        self._last_ckpt_frame = -1
        #: Extra entries the entry point wants in every checkpoint (e.g. the replay capacity).
        self.extra_state: dict[str, Any] = {}
        #: SIGTERM/SIGINT seen by the entry point: the loop stops at its next safe point.
        self.stop_signals: StopSignals | None = None
        #: Resume without the checkpoint's replay (resume_without_replay=true), else an error.
        self.allow_empty_replay = False
        #: Keep the freshly built agent's optimizer settings over the checkpoint's
        #: (resume_new_optimizer_settings=true).
        self.new_optimizer_settings = False
        self.status = StatusFile(run_dir, cfg.steps)

    # ---------------------------------------------------------------- main loop
    def run(
        self, resume_state: dict[str, Any] | None = None, resume_dir: Path | None = None
    ) -> str:
        """Runs until `cfg.steps` env frames (or `cfg.stop_after`, or a stop signal); resumes
        from a loaded checkpoint when given. Returns the final state: "done", "stopped" (the
        time slice ended) or "preempted" (a signal; a checkpoint was written)."""
        if resume_state is not None:
            self._restore(resume_state, resume_dir)
        else:
            self.pending = self.envs.reset(seed=self.seed)
            self.act_state = self.agent.init_state(self.num_envs)
        self._write_status("running")
        bar = self._progress_bar()
        state = "failed"
        try:
            end = (
                self.cfg.steps
                if self.cfg.stop_after is None
                else min(self.cfg.steps, self.cfg.stop_after)
            )
            while self.counters["env_frames"] < end and not self._stop_requested():
                before = self.counters["env_frames"]
                self._env_step()
                self._train()
                self._clocks()
                if self.status.due():
                    self._write_status("running")
                if bar is not None:
                    bar.update(self.counters["env_frames"] - before)
                    bar.set_postfix(
                        ret=f"{self.last_return:.1f}",
                        grad=self.counters["grad_steps"],
                        refresh=False,
                    )
            frame = self.counters["env_frames"]
            done = frame >= self.cfg.steps
            # Only the end of the run gets a final evaluation: at the end of a time slice or a
            # preemption an evaluation (its video draws from the replay sampler) would make the
            # resumed run differ from an uninterrupted one.
            if done and self._last_eval_frame != frame and self.cfg.eval_every > 0:
                self._evaluate()
            self._log()
            if self._last_ckpt_frame != frame:
                self._checkpoint()
            state = "done" if done else "preempted" if self._stop_requested() else "stopped"
        except Preempted:  # a second signal: out now, the last checkpoint stays
            state = "preempted"
            raise
        finally:
            try:
                self._write_status(state)
            finally:
                if bar is not None:
                    bar.close()
                self.logger.flush()
        return state

    def _stop_requested(self) -> bool:
        return self.stop_signals is not None and self.stop_signals.requested is not None

    def _env_step(self) -> None:
        row = self.pending
        assert row is not None
        on_policy = self.spec.kind == "rollouts"
        if on_policy:
            # Add the row first and update when the rollout is full, so that every action of a
            # rollout comes from the policy it is trained from (the action is set after acting).
            self.store.add(row)
            if self.store.full:
                self._update_on_rollout()
        prefill = (
            self.spec.kind in ("sequences", "transitions")
            and self.counters["env_frames"] < self.cfg.prefill
            and not self.spec.prefill_policy
        )
        extras: dict[str, Any] = {}
        if prefill:
            action = sample_actions(self.agent.act_spec, self.num_envs, self.rng)
            extras = {  # no policy state to store: zeros (an initial state)
                k: np.zeros((self.num_envs, *s.shape), s.dtype) for k, s in self.spec.extras.items()
            }
        else:
            obs = {k: torch.as_tensor(row[k], device=self.device) for k in self.agent.obs_spec}
            obs["is_first"] = torch.as_tensor(row["is_first"], device=self.device)
            with torch.no_grad():
                act, self.act_state = self.agent.act(obs, self.act_state, "explore")
            action = (
                act.detach().to("cpu", torch.float32).numpy()
            )  # [N, A]; the env needs it on host
            extras = self.agent.row_extras(self.act_state)
        if on_policy:
            self.store.set_action(action)
        elif self.store is not None:
            self.store.add({**row, "action": action, **extras})
        self._track_episodes(row)
        if self.needs_reset:  # after a resume: the restored envs start fresh episodes
            self.pending = self.envs.reset()
            self.needs_reset = False
        else:
            self.pending = self.envs.step(action)
        self.counters["policy_steps"] += self.num_envs
        self.counters["env_frames"] = self.counters["policy_steps"] * self.action_repeat

    def _track_episodes(self, row: dict[str, np.ndarray]) -> None:
        first = row["is_first"]
        self.ep_return[first] = 0.0
        self.ep_length[first] = 0
        self.ep_return += row["reward"]
        self.ep_length += 1
        for i in np.flatnonzero(row["is_last"]):
            self.counters["episodes"] += 1
            self.last_return = float(self.ep_return[i])
            self.metrics.add(
                {"episode/return": self.last_return, "episode/length": float(self.ep_length[i] - 1)}
            )

    def _train(self) -> None:
        kind = self.spec.kind
        if kind in ("sequences", "transitions"):
            if self.counters["env_frames"] < self.cfg.prefill or not self._can_sample():
                return
            if self._train_start_steps is None:
                self._train_start_steps = self.counters["policy_steps"]
            for _ in range(self.train_clock(self.counters["policy_steps"])):
                if kind == "sequences":
                    batch = self.store.sample_sequences(
                        self.spec.batch, self.spec.length, with_index=bool(self.spec.extras)
                    )
                else:
                    batch = self.store.sample_transitions(
                        self.spec.batch, self.spec.n_step, self.spec.gamma
                    )
                self.metrics.add(self.agent.update(batch))
                fresh = self.agent.replay_writeback()
                if fresh:  # the agent's recomputed per-row entries (replay context)
                    self.store.write(batch["index"][:, self.spec.context :], fresh)
                self.counters["grad_steps"] += 1
                self._train_rows += self.spec.replayed_per_update

    def _update_on_rollout(self) -> None:
        if self._train_start_steps is None:
            self._train_start_steps = 0
        self.metrics.add(self.agent.update(self.store))
        self.store.reset()
        self.counters["grad_steps"] += 1
        self._train_rows += self.store.num_steps * self.num_envs

    def _can_sample(self) -> bool:
        if self.spec.kind == "sequences":
            return bool(self.store.can_sample_sequences(self.spec.length))
        return bool(self.store.can_sample_transitions(self.spec.n_step))

    def _clocks(self) -> None:
        frame = self.counters["env_frames"]
        if self.clocks["eval"](frame):
            self._check_health(self.metrics.peek(_is_loss))  # a diverged policy never acts
            self._evaluate()
        if self.clocks["log"](frame):
            self._log()
        if self.clocks["checkpoint"](frame):
            self._checkpoint()

    # ---------------------------------------------------------------- log / eval / checkpoint
    def _log(self) -> None:
        if self._last_log[1] == self.counters["env_frames"] and self.metrics.empty:
            return  # nothing new since the last event (e.g. a checkpoint right after a log)
        metrics = self.metrics.read()
        self._check_health({k: v for k, v in metrics.items() if _is_loss(k)})
        now, frames0, grads0 = self._last_log
        dt = max(time.time() - now, 1e-9)
        metrics["perf/fps"] = (self.counters["env_frames"] - frames0) / dt
        metrics["perf/grad_steps_per_s"] = (self.counters["grad_steps"] - grads0) / dt
        if self._train_start_steps is not None:
            steps = max(self.counters["policy_steps"] - self._train_start_steps, 1)
            metrics["perf/train_ratio"] = self._train_rows / steps
        metrics.update(self.agent.observe_metrics())
        self._last_log = (time.time(), self.counters["env_frames"], self.counters["grad_steps"])
        self.logger.log(self._counter_view(), metrics)

    def _check_health(self, losses: dict[str, float]) -> None:
        """Every loss finite, every network's weights finite and bounded (NonFiniteLossError)."""
        where = f"env frame {self.counters['env_frames']} (grad step {self.counters['grad_steps']})"
        ckpt = checkpoint.checkpoint_dir(self.run_dir)
        note = (
            f"the last good checkpoint in {ckpt} is kept"
            if checkpoint.has_checkpoint(self.run_dir)
            else "no checkpoint was written before"
        )
        check_health(losses, self.agent, self.cfg.param_norm_limit, where, note)

    def _evaluate(self) -> None:
        self._last_eval_frame = self.counters["env_frames"]
        if self.eval_envs is None:
            self.eval_envs = self.make_eval_envs()
        metrics, frames = evaluate(
            self.agent,
            self.eval_envs,
            self.cfg.eval_episodes,
            seed=self.seed + 10_000,
            record_video=self.cfg.video,
        )
        self.logger.log(self._counter_view(), metrics)
        if frames is not None:
            self.logger.video("eval/policy", frames, self.counters["env_frames"])
        if self.cfg.video and self.spec.kind == "sequences" and self._can_sample():
            batch = self.store.sample_sequences(min(4, self.spec.batch), self.spec.length)
            video = openloop_video(self.agent, batch)  # every sequence, labelled
            if video is not None:
                self.logger.video("wm/openloop", video, self.counters["env_frames"])

    def _checkpoint(self) -> None:
        # Read the metrics first: a non-finite loss must never overwrite a good checkpoint.
        self._log()
        self._last_ckpt_frame = self.counters["env_frames"]
        state = {
            "config": self.saved_config,
            "signature": self.agent.config_signature(),
            "agent": self.agent.state_dict(),
            "counters": dict(self.counters),
            "clocks": {k: c.state_dict() for k, c in self.clocks.items()},
            "train_clock": self.train_clock.state_dict(),
            "rollout": self.store.state_dict() if self.spec.kind == "rollouts" else None,
            "rng": checkpoint.rng_state(),
            "loop_rng": self.rng.bit_generator.state,
            "env_rng": self.envs.get_rng_state(),
            "pending": self.pending,
            "act_state": self.act_state,
            "episodes": {
                "return": self.ep_return,
                "length": self.ep_length,
                "last": self.last_return,
            },
            "train": {"rows": self._train_rows, "start": self._train_start_steps},
            **self.extra_state,
        }
        store = self.store if (self.cfg.save_replay and hasattr(self.store, "save")) else None
        info = {
            "env_frames": self.counters["env_frames"],
            # resumes exactly when every env's pending row ends its episode (see _restore)
            "exact": bool(np.asarray(self.pending["is_last"]).all()) if self.pending else False,
            "store": type(self.store).__name__ if self.store is not None else None,
        }
        checkpoint.save(self.run_dir, state, store, info)
        world_model = getattr(self.agent, "world_model", None)
        if world_model is not None:
            _save_world_model(self.run_dir, self.agent)
        self._write_status("running")

    def _restore(self, state: dict[str, Any], ckpt_dir: Path | None) -> None:
        fresh_settings = optim_settings.snapshot(self.agent)
        self.agent.load_state_dict(state["agent"])
        if self.new_optimizer_settings:
            optim_settings.restore(self.agent, fresh_settings)
        self.counters.update(state["counters"])
        for k, c in self.clocks.items():
            c.load_state_dict(state["clocks"][k])
        self.train_clock.load_state_dict(state["train_clock"])
        if state.get("rollout") is not None:
            self.store.load_state_dict(state["rollout"])
        self.rng.bit_generator.state = state["loop_rng"]
        self.act_state = state["act_state"]
        self.ep_return = state["episodes"]["return"]
        self.ep_length = state["episodes"]["length"]
        self.last_return = state["episodes"]["last"]
        self._train_rows = state["train"]["rows"]
        self._train_start_steps = state["train"]["start"]
        replay_dir = ckpt_dir / checkpoint.REPLAY_DIR if ckpt_dir is not None else None
        if self.store is not None and hasattr(self.store, "load"):
            self._restore_replay(replay_dir, ckpt_dir)
        # The envs were rebuilt and their RNGs restored. A pending row that ends its episode is
        # exact: the next env call is the reset the vector env would have made. Episodes in
        # progress cannot be restored: they end as truncations and every env starts afresh.
        self.envs.reset(seed=self.seed)
        self.envs.set_rng_state(state["env_rng"])
        pending = state["pending"]
        if pending["is_last"].all():
            self.pending = pending
            self.needs_reset = True
        else:
            if self.store is not None and hasattr(self.store, "mark_last"):
                self.store.mark_last()
            self.pending = self.envs.reset()
            self.act_state = self.agent.init_state(self.num_envs)
        checkpoint.set_rng_state(state["rng"])
        self._last_eval_frame = self._last_ckpt_frame = self.counters["env_frames"]
        self._last_log = (time.time(), self.counters["env_frames"], self.counters["grad_steps"])

    def _restore_replay(self, replay_dir: Path | None, ckpt_dir: Path | None) -> None:
        """The checkpoint's replay, or CheckpointError: training on with an empty replay would
        be a different run, so it takes resume_without_replay=true."""
        flag = "resume_without_replay=true continues with an empty replay (not an exact resume)"
        if replay_dir is not None and replay_dir.exists():
            try:
                self.store.load(replay_dir)
                return
            except ValueError as err:
                if not self.allow_empty_replay:
                    raise checkpoint.CheckpointError(f"{err}; {flag}") from err
                problem = f"the replay in {replay_dir} is unreadable ({err})"
        else:
            saved = checkpoint.read_manifest(ckpt_dir).get("replay") if ckpt_dir else None
            problem = (
                f"the checkpoint in {ckpt_dir} was written without its replay "
                "(trainer.save_replay=false)"
                if saved is False
                else f"the replay of the checkpoint in {ckpt_dir} is missing ({replay_dir})"
            )
            if not self.allow_empty_replay:
                raise checkpoint.CheckpointError(f"{problem}; {flag}")
        print(f"resume: {problem}; resume_without_replay=true: an empty replay", flush=True)

    # ---------------------------------------------------------------- helpers
    def _counter_view(self) -> dict[str, int]:
        return {k: self.counters[k] for k in ("env_frames", "policy_steps", "grad_steps")}

    def _write_status(self, state: str) -> None:
        self.status.write(state, self.counters["env_frames"])

    def _progress_bar(self) -> Any:
        if not self.cfg.progress:
            return None
        from tqdm import tqdm

        return tqdm(
            total=self.cfg.steps,
            initial=self.counters["env_frames"],
            unit="frame",
            unit_scale=True,
            dynamic_ncols=True,
            mininterval=1.0,
        )

    def close(self) -> None:
        self.envs.close()
        if self.eval_envs is not None:
            self.eval_envs.close()
        self.logger.close()


def _save_world_model(run_dir: Path, agent: Agent) -> None:
    """RUN_DIR/world_model.pt: the world model alone, loadable by planners without the actor."""
    wm = agent.world_model
    assert wm is not None
    payload = {"state_dict": wm.state_dict()}
    config_fn = getattr(wm, "world_model_config", None)
    if config_fn is not None:
        payload["config"] = config_fn()
    tmp = Path(run_dir) / "world_model.pt.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, Path(run_dir) / "world_model.pt")


def _is_loss(key: str) -> bool:
    return "loss" in key


__all__ = ["Loop", "TrainerConfig", "NonFiniteLossError"]
