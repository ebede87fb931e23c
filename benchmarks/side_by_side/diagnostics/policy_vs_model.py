"""Does the world model rank policies as the real env does? (issue 11, Dreamer on cartpole_balance)

    python benchmarks/side_by_side/diagnostics/policy_vs_model.py RUN_DIR [--horizon 50]

For a trained DMC proprio run (its checkpoint), from states the agent's own eval policy reaches
(steps t0 of a few episodes), each candidate policy is rolled out twice for `--horizon` policy
steps: in the real simulator (dm_control physics restored to the state at t0, the posterior
filtered along) and in the world model's imagination from the posterior at t0 (the policy acting
on imagined features). Printed per policy: the mean real and imagined reward sums and their
correlation over start states, and the policy's mean action. If imagination prefers a policy the
simulator punishes, the actor is exploiting model error; if imagination ranks them as the
simulator does but the actor's policy is still the worst, the actor is not optimizing its own
objective.

Policies: `mode` (the actor's mean, as evaluation acts), `sample` (the actor's sample, as training
acts), `zero` (no force), `random` (uniform in [-1, 1]), `push+` / `push-` (constant +-0.5).
Ad-hoc diagnostic, not run in CI; dm_control is driven directly (action repeat from the run's
config, observation keys concatenated in sorted order as worldmodels/envs/dmc.py does).
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from dm_control import suite

from worldmodels.evaluation.runs import load_run

Policy = Callable[[torch.Tensor, np.random.Generator], torch.Tensor]  # feat [N, F] -> [N, A]


def policies(agent: Any, act_dim: int) -> dict[str, Policy]:
    def const(value: float) -> Policy:
        return lambda feat, rng: torch.full((feat.shape[0], act_dim), value)

    return {
        "mode": lambda feat, rng: agent.actor(feat).mode().clamp(-1, 1),
        "sample": lambda feat, rng: agent.actor(feat).sample().clamp(-1, 1),
        "zero": const(0.0),
        "random": lambda feat, rng: torch.as_tensor(
            rng.uniform(-1, 1, (feat.shape[0], act_dim)), dtype=torch.float32
        ),
        "push+": const(0.5),
        "push-": const(-0.5),
    }


def flat_obs(observation: dict[str, Any]) -> torch.Tensor:
    parts = [np.asarray(observation[k], np.float32).reshape(-1) for k in sorted(observation)]
    return torch.as_tensor(np.concatenate(parts))[None]  # [1, D]


class Filter:
    """The agent's posterior along a real trajectory (eval-mode filtering: posterior modes)."""

    def __init__(self, wm: Any, act_dim: int):
        self.wm, self.latent, self.prev = wm, None, torch.zeros(1, act_dim)

    def observe(self, obs: torch.Tensor, first: bool) -> torch.Tensor:
        is_first = torch.tensor([first])
        self.latent, feat = self.wm.observe(
            self.latent, {"vector": obs}, self.prev, is_first, sample=False
        )
        return feat

    def snapshot(self) -> tuple[Any, torch.Tensor]:
        return copy.deepcopy(self.latent), self.prev.clone()

    def restore(self, snap: tuple[Any, torch.Tensor]) -> None:
        self.latent, self.prev = copy.deepcopy(snap[0]), snap[1].clone()


def real_step(env: Any, action: torch.Tensor, repeat: int) -> tuple[Any, float]:
    total, ts = 0.0, None
    for _ in range(repeat):
        ts = env.step(action[0].numpy().astype(np.float64))
        total += float(ts.reward or 0.0)
        if ts.last():
            break
    return ts, total


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--horizon", type=int, default=50, help="policy steps per rollout")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--starts", type=int, nargs="+", default=[0, 100, 200, 300])
    args = p.parse_args()
    torch.set_num_threads(1)
    run = load_run(args.run_dir, torch.device("cpu"))
    agent, cfg = run.agent, run.config
    run.envs.close()
    assert agent is not None, "the run has no checkpoint"
    wm, act_dim = agent.world_model, agent.act_spec.dim
    domain, task = cfg["env"]["task"].split("_", 1)
    if domain == "ball":  # ball_in_cup_catch
        domain, task = "ball_in_cup", "catch"
    repeat = int(cfg["env"]["action_repeat"])
    pols = policies(agent, act_dim)
    real: dict[str, list[float]] = {k: [] for k in pols}
    imag: dict[str, list[float]] = {k: [] for k in pols}
    mean_action: dict[str, list[float]] = {k: [] for k in pols}
    for episode in range(args.episodes):
        rng = np.random.default_rng(episode)
        env = suite.load(domain, task, task_kwargs={"random": 1000 + episode})
        ts = env.reset()
        filt = Filter(wm, act_dim)
        feat = filt.observe(flat_obs(ts.observation), True)
        episode_return = 0.0
        for t in range(max(args.starts) + 1):
            if t in args.starts:
                physics, count = env.physics.get_state().copy(), env._step_count
                snap = filt.snapshot()
                for name, pol in pols.items():
                    # real: restore the simulator and the filter, run the policy
                    with env.physics.reset_context():
                        env.physics.set_state(physics)
                    env._step_count = count
                    filt.restore(snap)
                    f, total, acts = feat, 0.0, []
                    for _ in range(args.horizon):
                        a = pol(f, rng)
                        acts.append(float(a.mean()))
                        ts2, r = real_step(env, a, repeat)
                        total += r
                        filt.prev = a
                        f = filt.observe(flat_obs(ts2.observation), False)
                        if ts2.last():
                            break
                    real[name].append(total)
                    mean_action[name].append(float(np.mean(acts)))

                    # imagined: from the posterior at t0
                    def acting(
                        x: torch.Tensor, pol: Policy = pol, rng: np.random.Generator = rng
                    ) -> torch.Tensor:
                        return pol(x, rng)

                    roll = wm.imagine(snap[0], acting, args.horizon)
                    imag[name].append(float(roll.reward.sum()))
                with env.physics.reset_context():
                    env.physics.set_state(physics)
                env._step_count = count
                filt.restore(snap)
            # advance the trajectory with the agent's eval policy
            a = pols["mode"](feat, rng)
            ts, r = real_step(env, a, repeat)
            episode_return += r
            filt.prev = a
            feat = filt.observe(flat_obs(ts.observation), False)
    print(f"run {args.run_dir}: {args.episodes} episodes x starts {args.starts}, "
          f"horizon {args.horizon} policy steps (action repeat {repeat})")  # fmt: skip
    print(f"{'policy':8s} {'real sum':>9s} {'imagined':>9s} {'corr':>6s} {'mean action':>12s}")
    for name in pols:
        r, i = np.array(real[name]), np.array(imag[name])
        corr = float(np.corrcoef(r, i)[0, 1]) if r.std() > 0 and i.std() > 0 else float("nan")
        print(f"{name:8s} {r.mean():9.2f} {i.mean():9.2f} {corr:6.2f} "
              f"{np.mean(mean_action[name]):12.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
