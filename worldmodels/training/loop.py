"""The training driver: env steps -> store -> agent updates -> log / eval / checkpoint clocks.
It knows no algorithm and not what an agent samples: it talks to the Agent contract
(agents/base.py), the VecEnv rows (envs/spaces.py) and one store (data/store.py), which says when
the agent updates on what. Counters: `env_frames` (after action repeat; budgets and clocks count
these), `policy_steps` (agent decisions, summed over envs), `grad_steps` (agent updates)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldmodels.agents.base import Agent
from worldmodels.data.store import Store
from worldmodels.envs.vector import VecEnv
from worldmodels.logger.metrics import Logger, MetricMean
from worldmodels.logger.openloop import openloop_video
from worldmodels.training import run_state
from worldmodels.training.clocks import Every
from worldmodels.training.episodes import EpisodeTracker
from worldmodels.training.evaluate import evaluate
from worldmodels.training.health import NonFiniteLossError
from worldmodels.training.preemption import Preempted, StopSignals
from worldmodels.training.progress import Progress
from worldmodels.training.settings import ResumeOptions, TrainerConfig
from worldmodels.training.status import StatusFile


class Loop:
    """Drives one run. Build the parts (see worldmodels.train), then call `run()`."""

    def __init__(self, cfg: TrainerConfig, envs: VecEnv, make_eval_envs: Callable[[], VecEnv],
                 agent: Agent, store: Store, logger: Logger, run_dir: Path, action_repeat: int,
                 seed: int, saved_config: dict[str, Any], stop: StopSignals | None = None,
                 resume: ResumeOptions | None = None):  # fmt: skip
        self.cfg, self.envs, self.make_eval_envs, self.agent = cfg, envs, make_eval_envs, agent
        self.store, self.logger, self.run_dir, self.seed = store, logger, Path(run_dir), seed
        self.action_repeat, self.saved_config, self.stop = action_repeat, saved_config, stop
        self.resume, self.num_envs = resume or ResumeOptions(), envs.num_envs
        self.eval_envs: VecEnv | None = None  # built at the first evaluation
        self.counters = {"env_frames": 0, "policy_steps": 0, "grad_steps": 0, "episodes": 0}
        self.clocks = {k: Every(getattr(cfg, f"{k}_every")) for k in ("log", "eval", "checkpoint")}
        self.metrics, self.episodes = MetricMean(), EpisodeTracker(self.num_envs)
        self.rng = np.random.default_rng(seed + 12345)  # prefill actions
        self.pending: dict[str, np.ndarray] | None = None  # the row the agent acts on next
        self.act_state: Any = None
        self.needs_reset = False  # after a resume: the restored envs start fresh episodes
        self.train: dict[str, Any] = {"rows": 0, "start": None}  # replayed rows, from this step
        self.last_log, self.last_eval_frame, self.last_ckpt_frame = (time.time(), 0, 0), -1, -1
        self.status = StatusFile(run_dir, cfg.steps)

    def run(self, resume_state: dict[str, Any] | None = None, ckpt_dir: Path | None = None) -> str:
        """Runs (or resumes from a loaded checkpoint) until `cfg.steps` env frames, `stop_after`
        or a signal: "done", "stopped" (time slice over) or "preempted" (checkpoint written)."""
        if resume_state is not None:
            run_state.restore(self, resume_state, ckpt_dir)
        else:
            self.pending = self.envs.reset(seed=self.seed)
            self.act_state = self.agent.init_state(self.num_envs)
        self.status.write("running", self.counters["env_frames"])
        bar = Progress(self.cfg.progress, self.cfg.steps, self.counters["env_frames"])
        state = "failed"
        try:
            stop_after = self.cfg.stop_after
            end = self.cfg.steps if stop_after is None else min(self.cfg.steps, stop_after)
            while self.counters["env_frames"] < end and not self._stop_requested():
                before = self.counters["env_frames"]
                self._env_step()
                c = self.counters
                for batch in self.store.batches(c["env_frames"], c["policy_steps"]):
                    self._update(batch)
                self._clocks()
                if self.status.due():
                    self.status.write("running", self.counters["env_frames"])
                bar.update(c["env_frames"] - before, self.episodes.last_return, c["grad_steps"])
            frame = self.counters["env_frames"]
            done = frame >= self.cfg.steps
            # Only the end of the run gets a final evaluation: at the end of a time slice or a
            # preemption an evaluation (its video draws from the replay sampler) would make the
            # resumed run differ from an uninterrupted one.
            if done and self.last_eval_frame != frame and self.cfg.eval_every > 0:
                self._evaluate()
            self._log()
            if self.last_ckpt_frame != frame:
                self._checkpoint()
            state = "done" if done else "preempted" if self._stop_requested() else "stopped"
        except Preempted:  # a second signal: out now, the last checkpoint stays
            state = "preempted"
            raise
        finally:
            try:
                self.status.write(state, self.counters["env_frames"])
            finally:
                bar.close()
                self.logger.flush()
        return state

    def _stop_requested(self) -> bool:
        return self.stop is not None and self.stop.requested is not None

    def _env_step(self) -> None:
        row = self.pending
        assert row is not None
        for batch in self.store.before_act(row):
            self._update(batch)
        extras: Mapping[str, Any]
        if self.store.random_action(self.counters["env_frames"]):
            action, extras = self.agent.random_action(self.num_envs, self.rng)
        else:
            obs = {k: torch.as_tensor(row[k], device=self.agent.device)
                   for k in (*self.agent.obs_spec, "is_first")}  # fmt: skip
            with torch.no_grad():
                act, self.act_state = self.agent.act(obs, self.act_state, "explore")
            action = act.detach().to("cpu", torch.float32).numpy()  # [N, A]; the env is on host
            extras = self.agent.row_extras(self.act_state)
        self.store.add(row, action, extras)
        for metrics in self.episodes.track(row):
            self.metrics.add(metrics)
        self.pending = self.envs.reset() if self.needs_reset else self.envs.step(action)
        self.needs_reset = False
        self.counters["policy_steps"] += self.num_envs
        self.counters["env_frames"] = self.counters["policy_steps"] * self.action_repeat
        self.counters["episodes"] = self.episodes.count

    def _update(self, batch: Any) -> None:
        self.metrics.add(self.agent.update(batch))
        self.store.write_back(batch, self.agent.replay_writeback())
        if self.train["start"] is None:
            self.train["start"] = self.store.train_start(self.counters["policy_steps"])
        self.counters["grad_steps"] += 1
        self.train["rows"] += self.store.rows_per_update

    def _clocks(self) -> None:
        frame = self.counters["env_frames"]
        if self.clocks["eval"](frame):
            # a diverged policy never acts
            run_state.check_health(self, self.metrics.peek(_is_loss))
            self._evaluate()
        if self.clocks["log"](frame):
            self._log()
        if self.clocks["checkpoint"](frame):
            self._checkpoint()

    def _log(self) -> None:
        c = self.counters
        if self.last_log[1] == c["env_frames"] and self.metrics.empty:
            return  # nothing new since the last event (e.g. a checkpoint right after a log)
        metrics = self.metrics.read()
        run_state.check_health(self, {k: v for k, v in metrics.items() if _is_loss(k)})
        now, frames0, grads0 = self.last_log
        dt = max(time.time() - now, 1e-9)
        metrics["perf/fps"] = (c["env_frames"] - frames0) / dt
        metrics["perf/grad_steps_per_s"] = (c["grad_steps"] - grads0) / dt
        if (start := self.train["start"]) is not None:
            metrics["perf/train_ratio"] = self.train["rows"] / max(c["policy_steps"] - start, 1)
        metrics.update(self.agent.observe_metrics())
        self.last_log = (time.time(), c["env_frames"], c["grad_steps"])
        self.logger.log(_view(self.counters), metrics)

    def _evaluate(self) -> None:
        frame = self.last_eval_frame = self.counters["env_frames"]
        if self.eval_envs is None:
            self.eval_envs = self.make_eval_envs()
        episodes, video = self.cfg.eval_episodes, self.cfg.video
        metrics, frames = evaluate(self.agent, self.eval_envs, episodes, self.seed + 10_000, video)
        self.logger.log(_view(self.counters), metrics)
        if frames is not None:
            self.logger.video("eval/policy", frames, frame)
        batch = self.store.video_batch() if video else None
        openloop = openloop_video(self.agent, batch) if batch is not None else None
        if openloop is not None:  # every sequence, labelled
            self.logger.video("wm/openloop", openloop, frame)

    def _checkpoint(self) -> None:
        self._log()  # read the metrics first: a non-finite loss never overwrites a good checkpoint
        self.last_ckpt_frame = self.counters["env_frames"]
        run_state.save(self)
        self.agent.export(self.run_dir)  # what the agent owns, for tools beside the checkpoint
        self.status.write("running", self.counters["env_frames"])

    def close(self) -> None:
        self.envs.close()
        if self.eval_envs is not None:
            self.eval_envs.close()
        self.logger.close()


def _is_loss(key: str) -> bool:
    return "loss" in key


def _view(counters: dict[str, int]) -> dict[str, int]:
    return {k: counters[k] for k in ("env_frames", "policy_steps", "grad_steps")}


__all__ = ["Loop", "NonFiniteLossError", "ResumeOptions", "TrainerConfig"]
