"""Model-free heads vs stable-baselines3, side by side in one process on the same env and sizes.

    python scripts/bench.py modelfree [--device cpu] [--algos sac,td3,dqn,ppo] [--threads 1]

- SAC, TD3 (Pendulum-v1) and DQN (CartPole-v1): gradient updates per second, each update
  including its replay sample (ours: `Replay.sample_transitions` + `agent.update`; SB3:
  `model.train(gradient_steps=n)`, which samples its own buffer), both replays filled with the same
  number of random-action env steps first. Rounds alternate between the two (other processes on a
  shared machine slow both alike); the median round is reported.
- PPO (CartPole-v1): env steps per second of whole training runs (collection, GAE, epochs) with
  the same vector-env width, rollout length, epochs, minibatch size and network: ours through the
  real entry point (`worldmodels.train.run`, no evaluation), SB3's `PPO.learn`.

Network sizes follow SB3's defaults for each algorithm's family: `--units` x 2 ReLU layers for
SAC/TD3/DQN (256), 64 x 2 tanh for PPO.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ALGOS = ("sac", "td3", "dqn", "dqn_plain", "ppo")
TASKS = {
    "sac": "Pendulum-v1",
    "td3": "Pendulum-v1",
    "dqn": "CartPole-v1",
    "dqn_plain": "CartPole-v1",
    "ppo": "CartPole-v1",
}
# "dqn" runs our defaults (double DQN, dueling head, Polyak target every update: more work per
# update than SB3's DQN); "dqn_plain" configures ours as SB3's DQN (single estimator, plain head,
# hard target copy every 10,000 updates) so the row compares the same algorithm.
DQN_PLAIN: dict[str, Any] = {
    "double": False,
    "dueling": False,
    "target_every": 10_000,
    "target_tau": 1.0,
}


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algos", default=",".join(ALGOS), help="comma list of " + ",".join(ALGOS))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (both sides)")
    parser.add_argument("--units", type=int, default=256, help="hidden units (SAC/TD3/DQN)")
    parser.add_argument("--batch", type=int, default=256, help="batch size (SAC/TD3)")
    parser.add_argument("--dqn-batch", type=int, default=64, help="batch size (DQN)")
    parser.add_argument("--updates", type=int, default=200, help="updates per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per side")
    parser.add_argument("--fill", type=int, default=5000, help="random env steps in each replay")
    parser.add_argument("--ppo-steps", type=int, default=32768, help="env steps per PPO run")
    parser.add_argument("--no-sb3", action="store_true", help="ours only")


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed_rounds(
    fns: dict[str, Callable[[int], None]], n: int, rounds: int, device: torch.device
) -> dict[str, float]:
    """Median updates/s per side over alternating rounds of `n` updates (after one warm-up)."""
    for fn in fns.values():
        fn(max(n // 10, 5))
    rates: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            _sync(device)
            t = time.perf_counter()
            fn(n)
            _sync(device)
            rates[k].append(n / (time.perf_counter() - t))
    return {k: statistics.median(v) for k, v in rates.items()}


def _our_offpolicy(
    algo: str, args: argparse.Namespace, device: torch.device
) -> tuple[Callable[[int], None], Callable[[int], None]]:
    """(update with its replay sample, update alone on one fixed batch)."""
    from worldmodels.agents.dqn import DQNAgent
    from worldmodels.agents.sac import SACAgent
    from worldmodels.agents.td3 import TD3Agent
    from worldmodels.data.replay import Replay
    from worldmodels.envs.make import make_vec_env
    from worldmodels.envs.spaces import row_spec, sample_actions

    env_cfg = {
        "suite": "gym",
        "task": TASKS[algo],
        "obs": "proprio",
        "image_size": 64,
        "camera": None,
        "action_repeat": 1,
        "time_limit": None,
    }
    envs = make_vec_env(env_cfg, 1, 0, asynchronous=False)
    obs_spec, act_spec = envs.obs_spec, envs.act_spec
    replay = Replay(row_spec(obs_spec, act_spec), args.fill + 10, 1, device=device)
    rng = np.random.default_rng(0)
    row = envs.reset(seed=0)
    for _ in range(args.fill):
        action = sample_actions(act_spec, 1, rng)
        replay.add({**row, "action": action})
        row = envs.step(action)
    envs.close()
    agent: Any
    if algo.startswith("dqn"):
        batch = args.dqn_batch
        # n_step=1 as SB3's DQN; with "dqn" double DQN and the dueling head stay on
        plain: dict[str, Any] = DQN_PLAIN if algo == "dqn_plain" else {}
        agent = DQNAgent(
            obs_spec, act_spec, device, units=args.units, batch=batch, n_step=1, **plain
        )
    else:
        batch = args.batch
        cls = SACAgent if algo == "sac" else TD3Agent
        agent = cls(obs_spec, act_spec, device, units=args.units, batch=batch)
    spec = agent.data
    fixed = replay.sample_transitions(spec.batch, spec.n_step, spec.gamma)

    def step(n: int) -> None:
        for _ in range(n):
            agent.update(replay.sample_transitions(spec.batch, spec.n_step, spec.gamma))

    def update_only(n: int) -> None:
        for _ in range(n):
            agent.update(fixed)

    return step, update_only


def _sb3_offpolicy(
    algo: str, args: argparse.Namespace, device: torch.device
) -> Callable[[int], None]:
    from stable_baselines3 import DQN, SAC, TD3

    cls = {"sac": SAC, "td3": TD3, "dqn": DQN, "dqn_plain": DQN}[algo]
    batch = args.dqn_batch if algo.startswith("dqn") else args.batch
    model = cls(
        "MlpPolicy",
        TASKS[algo],
        learning_starts=args.fill,
        batch_size=batch,
        device=device,
        policy_kwargs={"net_arch": [args.units, args.units]},
        verbose=0,
        seed=0,
    )
    model.learn(total_timesteps=args.fill)  # fills the buffer; no update before learning_starts

    def step(n: int) -> None:
        model.train(gradient_steps=n, batch_size=batch)

    return step


# PPO settings shared by both sides (CleanRL's classic-control defaults).
PPO_ENVS, PPO_STEPS, PPO_EPOCHS, PPO_MINIBATCHES = 4, 128, 4, 4


def _our_ppo(args: argparse.Namespace, device: torch.device) -> float:
    from worldmodels.train import run

    with tempfile.TemporaryDirectory() as tmp:
        overrides = [
            "agent=ppo",
            "env=gym",
            "env.task=CartPole-v1",
            "trainer=debug",
            f"device={device}",
            "logger.progress=false",
            "logger.tensorboard=false",
            "logger.video=false",
            f"run_dir={Path(tmp) / 'ppo'}",
            f"trainer.steps={args.ppo_steps}",
            f"trainer.num_envs={PPO_ENVS}",
            "trainer.async_envs=false",
            "trainer.eval_every=0",
            "trainer.log_every=1000000",
            "trainer.checkpoint_every=0",
            "trainer.time_limit=null",
            f"agent.rollout={PPO_STEPS}",
            f"agent.epochs={PPO_EPOCHS}",
            f"agent.minibatches={PPO_MINIBATCHES}",
            "agent.units=64",
        ]
        t = time.perf_counter()
        run(overrides)
        return args.ppo_steps / (time.perf_counter() - t)


def _sb3_ppo(args: argparse.Namespace, device: torch.device) -> float:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    t = time.perf_counter()
    env = make_vec_env("CartPole-v1", n_envs=PPO_ENVS, seed=0)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=PPO_STEPS,
        n_epochs=PPO_EPOCHS,
        batch_size=PPO_ENVS * PPO_STEPS // PPO_MINIBATCHES,
        device=device,
        verbose=0,
        seed=0,
        policy_kwargs={"net_arch": [64, 64]},
    )
    model.learn(total_timesteps=args.ppo_steps)
    return args.ppo_steps / (time.perf_counter() - t)


def run(args: argparse.Namespace) -> None:
    device = _device(args.device)
    torch.set_num_threads(args.threads)
    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    bad = [a for a in algos if a not in ALGOS]
    if bad:
        raise ValueError(f"unknown --algos {bad}; valid options: {list(ALGOS)}")
    print(
        f"== modelfree: device {device} ({torch.__version__}, {torch.get_num_threads()} threads), "
        f"units {args.units}x2, batch {args.batch} (SAC/TD3) / {args.dqn_batch} (DQN), "
        f"{args.rounds} rounds x {args.updates} updates; PPO {PPO_ENVS} envs x {PPO_STEPS} steps, "
        f"{PPO_EPOCHS} epochs x {PPO_MINIBATCHES} minibatches, 64x2 tanh, {args.ppo_steps} steps",
        flush=True,
    )
    print(
        "ours: update + its replay sample (the loop's work per update); ours (update): the update "
        "alone on a fixed batch; speedup = ours / sb3"
    )
    cols = ("ours", "ours(update)", "sb3", "speedup")
    print(
        f"{'algo':<9} {'env':<12} {'unit':<12} {cols[0]:>9} {cols[1]:>13} {cols[2]:>9} {cols[3]:>8}"
    )
    for algo in algos:
        update_only = float("nan")
        if algo == "ppo":
            ours = _our_ppo(args, device)
            theirs = float("nan") if args.no_sb3 else _sb3_ppo(args, device)
            unit = "env steps/s"
        else:
            with_sample, alone = _our_offpolicy(algo, args, device)
            fns = {"ours": with_sample, "update": alone}
            if not args.no_sb3:
                fns["sb3"] = _sb3_offpolicy(algo, args, device)
            rates = _timed_rounds(fns, args.updates, args.rounds, device)
            ours, update_only, theirs = (
                rates["ours"],
                rates["update"],
                rates.get("sb3", float("nan")),
            )
            unit = "updates/s"
        row = f"{algo:<9} {TASKS[algo]:<12} {unit:<12} {ours:>9.1f} {update_only:>13.1f}"
        print(f"{row} {theirs:>9.1f} {ours / theirs:>7.2f}x", flush=True)
