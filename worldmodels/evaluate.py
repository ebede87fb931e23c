"""Act with a planner through the world model of an earlier run (no training):

    python -m worldmodels.evaluate checkpoint=RUN_DIR agent=cem [horizon=8 | agent.horizon=8 ...]
        [episodes=10] [seed=S] [device=auto|cpu|cuda] [trainer=debug]

Rebuilds the env from RUN_DIR/config.yaml and the world model from RUN_DIR/world_model.pt, plans
with configs/agent/<agent>.yaml's planner settings (plus overrides), runs `episodes` evaluation
episodes (eval mode, env seeds S .. S+N-1; default S = the run's seed + 10000, the seeds of its
training evaluations), prints the result and writes RUN_DIR/eval_<agent>.json. When the run's agent
has an actor and a critic (Dreamer), `actor_candidates=24 terminal_value=true` plans with them.
`trainer=debug`: small planner settings and the debug trainer's short episodes (seconds on CPU).

The run loading, planner building and timed episodes here are shared with worldmodels.compare.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldmodels.agents.base import ActMode, Agent, build_agent
from worldmodels.agents.planners import PLANNER_KEYS, PLANNERS, PlannerAgent
from worldmodels.models.world_model import WorldModel
from worldmodels.train import CONFIG_DIR, UserError, resolve_device

#: Planner settings under trainer=debug (applied before the command's own overrides).
DEBUG_PLANNER = {"horizon": 4, "candidates": 32, "iterations": 2, "elites": 4}
DEBUG_EPISODES = 2
TRAINERS = ("default", "debug")


@dataclass
class LoadedRun:
    """What a run dir provides for planning: its config, env, world model and (when the run's
    agent has an actor and a critic on the world model's features) that agent."""

    run_dir: Path
    config: dict[str, Any]
    world_model: WorldModel
    agent: Any  # an Agent with `actor` and `critic` heads, or None
    envs: Any  # a 1-env VecEnv of the run's env config

    @property
    def has_actor(self) -> bool:
        return self.agent is not None

    def actor(self, feat: torch.Tensor) -> torch.Tensor:
        return self.agent.actor(feat).sample()  # [N, A]

    def value(self, feat: torch.Tensor) -> torch.Tensor:
        return self.agent.critic(feat).mean  # [N]

    def close(self) -> None:
        self.envs.close()


def load_run(run_dir: str | Path, device: torch.device, time_limit: int | None = None) -> LoadedRun:
    """Loads a run dir (UserError, one line, when it is not a usable run dir)."""
    from omegaconf import OmegaConf

    from worldmodels.envs.make import make_vec_env
    from worldmodels.training import checkpoint

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(
            f"run dir {run_dir} does not exist; pass the dir a training run wrote (runs/...)"
        )
    if not (run_dir / "config.yaml").exists():
        raise UserError(
            f"{run_dir} has no config.yaml; valid: a run dir written by worldmodels.train"
        )
    if not (run_dir / "world_model.pt").exists():
        raise UserError(
            f"{run_dir} has no world_model.pt (written at checkpoints by agents with a world "
            f"model: dreamer, {', '.join(PLANNERS)})"
        )
    loaded = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=True)
    assert isinstance(loaded, dict)
    config: dict[str, Any] = {str(k): v for k, v in loaded.items()}
    payload = checkpoint.load_torch_file(run_dir / "world_model.pt", "world model")
    limit = time_limit if time_limit is not None else config.get("trainer", {}).get("time_limit")
    envs = make_vec_env(
        config["env"], 1, int(config.get("seed", 0)), asynchronous=False, time_limit=limit
    )
    world_model = WorldModel.from_config(payload["config"]).to(device)
    if world_model.obs_spec != envs.obs_spec or world_model.act_spec != envs.act_spec:
        envs.close()
        raise UserError(
            f"{run_dir}/world_model.pt does not fit the run's env {config['env']['task']}"
        )
    agent = None
    if checkpoint.has_checkpoint(run_dir):
        state, _ = checkpoint.load(run_dir)
        built = build_agent(state["config"]["agent"], envs.obs_spec, envs.act_spec, device)
        if hasattr(built, "actor") and hasattr(built, "critic") and built.world_model is not None:
            built.load_state_dict(state["agent"])
            agent = built
    if agent is not None:  # one world model for all: the run's agent's, holding world_model.pt
        assert isinstance(agent.world_model, WorldModel)
        agent.world_model.load_state_dict(payload["state_dict"])
        world_model = agent.world_model
    else:
        world_model.load_state_dict(payload["state_dict"])
    world_model.eval()
    return LoadedRun(run_dir, config, world_model, agent, envs)


def planner_settings(name: str, overrides: dict[str, Any], debug: bool) -> dict[str, Any]:
    """Planner hyperparameters of configs/agent/<name>.yaml, then the debug sizes, then the
    overrides."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    if name not in PLANNERS:
        raise UserError(f"unknown agent {name!r}; valid: {', '.join(PLANNERS)}")
    unknown = sorted(set(overrides) - set(PLANNER_KEYS))
    if unknown:
        raise UserError(f"unknown planner settings {unknown}; valid: {', '.join(PLANNER_KEYS)}")
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"agent={name}"])
    agent_cfg = OmegaConf.to_container(cfg.agent, resolve=False)
    assert isinstance(agent_cfg, dict)
    settings = {k: agent_cfg[k] for k in PLANNER_KEYS}
    if debug:
        settings.update(DEBUG_PLANNER)
    settings.update(overrides)
    return settings


def build_planner(
    loaded: LoadedRun, settings: dict[str, Any], device: torch.device
) -> PlannerAgent:
    """A planner agent on the run's world model (with the run's actor and critic when it has
    them)."""
    wm = loaded.world_model
    try:
        agent = PlannerAgent(wm.obs_spec, wm.act_spec, device, world_model=wm, **settings)
    except (TypeError, ValueError) as err:
        raise UserError(str(err)) from err
    if loaded.has_actor:
        agent.attach(actor=loaded.actor, value=loaded.value)
    return agent


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
    """`episodes` eval episodes, episode k on env seed `seed + k` (torch seeded alike), one env.
    Returns per-episode returns and lengths, and the median ms per action (first act excluded:
    it carries compilation and warm-up)."""
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


def parse_args(argv: list[str], keys: tuple[str, ...]) -> tuple[dict[str, str], dict[str, Any]]:
    """KEY=VALUE arguments -> (the command's own `keys`, planner overrides `[agent.]KEY=VALUE`)."""
    import yaml

    own: dict[str, str] = {}
    planner: dict[str, Any] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            raise UserError(
                f"argument {arg!r} is not KEY=VALUE; valid keys: {', '.join(keys)}, "
                f"or planner settings"
            )
        if key in keys:
            own[key] = value
            continue
        name = key.removeprefix("agent.")
        if name not in PLANNER_KEYS:
            raise UserError(
                f"unknown argument {key!r}; valid: {', '.join(keys)} and planner settings "
                f"{', '.join(PLANNER_KEYS)}"
            )
        planner[name] = yaml.safe_load(value)
    trainer = own.get("trainer", "default")
    if trainer not in TRAINERS:
        raise UserError(f"unknown trainer {trainer!r}; valid: {', '.join(TRAINERS)}")
    return own, planner


def debug_time_limit() -> int | None:
    """Episode cap of configs/trainer/debug.yaml (frames)."""
    from omegaconf import DictConfig, OmegaConf

    cfg = OmegaConf.load(Path(CONFIG_DIR) / "trainer" / "debug.yaml")
    assert isinstance(cfg, DictConfig)
    limit = cfg.get("time_limit")
    return None if limit is None else int(limit)


def int_arg(own: dict[str, str], key: str, default: int) -> int:
    try:
        value = int(own.get(key, default))
    except ValueError as err:
        raise UserError(f"{key} must be an integer, got {own[key]!r}") from err
    if key == "episodes" and value < 1:
        raise UserError(f"episodes must be >= 1, got {value}")
    return value


def evaluate_run(argv: list[str]) -> dict[str, Any]:
    """The command: see the module docstring. Returns what it writes to
    RUN_DIR/eval_<agent>.json."""
    from worldmodels.analysis.aggregate import bootstrap_mean_ci

    own, overrides = parse_args(
        argv, ("checkpoint", "agent", "episodes", "seed", "device", "trainer")
    )
    if "checkpoint" not in own:
        raise UserError("missing checkpoint=RUN_DIR (a run dir written by worldmodels.train)")
    name = own.get("agent", "cem")
    debug = own.get("trainer") == "debug"
    settings = planner_settings(name, overrides, debug)
    device = resolve_device(own.get("device", "auto"))
    loaded = load_run(own["checkpoint"], device, debug_time_limit() if debug else None)
    try:
        episodes = int_arg(own, "episodes", DEBUG_EPISODES if debug else 10)
        seed = int_arg(own, "seed", int(loaded.config.get("seed", 0)) + 10_000)
        agent = build_planner(loaded, settings, device)
        result = run_episodes(agent, loaded.envs, episodes, seed)
    finally:
        loaded.close()
    lo, hi = bootstrap_mean_ci(np.array(result["returns"]))
    out = {
        "agent": name,
        "run_dir": str(loaded.run_dir),
        "episodes": episodes,
        "seeds": [seed, seed + episodes - 1],
        "return_mean": float(np.mean(result["returns"])),
        "return_ci95": [lo, hi],
        "return_std": float(np.std(result["returns"])),
        **result,
        "device": str(device),
        "planner": agent.hyperparameters(),
        "uses_actor": loaded.has_actor and agent.planner.proposals > 0,
        "uses_value": agent.planner.value is not None,
    }
    path = loaded.run_dir / f"eval_{name}.json"
    path.write_text(json.dumps(out, indent=2))
    env = loaded.config["env"]
    print(
        f"{name} on {loaded.run_dir} ({env['suite']}:{env['task']}, {episodes} episodes, seeds "
        f"{seed}..{seed + episodes - 1}): return {out['return_mean']:.2f} "
        f"[{lo:.2f}, {hi:.2f}] (95% CI), "
        f"{result['ms_per_action']:.2f} ms/action on {device} -> {path}",
        flush=True,
    )
    return out


def cli(command: str, fn: Any) -> None:
    """Run `fn(sys.argv[1:])`; user errors are one line on stderr and exit code 2."""
    from omegaconf.errors import OmegaConfBaseException

    from worldmodels.training.checkpoint import CheckpointError

    try:
        fn(sys.argv[1:])
    except (UserError, CheckpointError, ValueError, OmegaConfBaseException) as err:
        if os.environ.get("WM_DEBUG"):
            raise
        print(f"{command}: error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    cli("worldmodels.evaluate", evaluate_run)
