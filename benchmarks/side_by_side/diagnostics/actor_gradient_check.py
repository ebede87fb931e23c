"""Does the REINFORCE actor gradient point where the imagined return rises? (issue 11)

    python benchmarks/side_by_side/diagnostics/actor_gradient_check.py RUN_DIR [--starts 2048]

From posteriors of real trajectories (the run's checkpoint acting with its sampling policy on
dm_control), two estimates of the gradient of E[R_0 | s_0] (the imagined lambda-return of the
first step, as the agent computes it: the world model's rewards and continues, the critic's
bootstrap, contdisc) with respect to the actor's parameters, through the first action a_0 only
(later actions are sampled without gradient):
  - pathwise: a_0 = rsample, gradients through the frozen world model and critic;
  - REINFORCE: grad log pi(a_0 | s_0) * (R_0 - v(s_0)), averaged over `--repeats` resamples.
Both are unbiased for the same quantity, so their cosine over the actor's parameters (and the
signs of the mean layer's bias gradient) should agree once the estimates are not noise. Also
printed: the agent's own actor loss gradient (all H steps, return scale, entropy bonus) against
the pathwise gradient. Ad-hoc diagnostic, not run in CI.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from worldmodels.evaluation.runs import load_run
from worldmodels.models.optim import frozen
from worldmodels.objectives.dreamer_losses import actor_loss
from worldmodels.objectives.returns import lambda_return


def collect_starts(run: Any, count: int) -> dict[str, torch.Tensor]:
    """Posteriors [N] of the agent's own (explore-mode) trajectories in the run's eval env."""
    agent, envs = run.agent, run.envs
    rows, state, out = envs.reset(), None, []
    while sum(x["deter"].shape[0] for x in out) < count:
        obs = {k: torch.as_tensor(rows[k]) for k in (*agent.obs_spec, "is_first")}
        action, state = agent.act(obs, state, "explore")
        out.append({k: v.clone() for k, v in state[0].items()})
        rows = envs.step(action.numpy())
    return {k: torch.cat([x[k] for x in out])[:count] for k in out[0]}


def first_step_return(
    agent: Any, start: dict[str, torch.Tensor], a0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Imagined R_0 [N] and v(s_0) [N] when the first action is `a0` and later ones samples."""
    calls = {"n": 0}

    def policy(feat: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 1:
            return a0
        with torch.no_grad():
            return agent.actor(feat.detach()).sample()

    wm = agent.world_model
    roll = wm.imagine(start, policy, agent.cfg.horizon)
    value = agent.critic(roll.feat).mean  # [H+1, N]
    cont, gamma, _ = agent._discounts(roll, None if agent.contdisc else torch.ones_like(value[0]))
    ret = lambda_return(roll.reward.float(), value.float(), cont, gamma, agent.cfg.lam)
    return ret[0], value[0]


def flat_grad(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([
        (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
        for p in module.parameters()
    ])  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--starts", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=8)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    run = load_run(args.run_dir, torch.device("cpu"))
    agent = run.agent
    assert agent is not None, "the run has no checkpoint"
    with torch.no_grad():
        start = collect_starts(run, args.starts)
    run.envs.close()
    wm, actor, critic = agent.world_model, agent.actor, agent.critic
    feat0 = wm.feat(start).detach()

    # pathwise
    actor.zero_grad(set_to_none=True)
    with frozen(wm), frozen(critic):
        a0 = actor(feat0).rsample()
        ret0, _ = first_step_return(agent, start, a0)
        (-ret0.mean()).backward()
    g_path = -flat_grad(actor)
    b_path = -actor.mean.bias.grad.clone()

    # REINFORCE on the first step, resampled
    g_rf, b_rf = torch.zeros_like(g_path), torch.zeros_like(b_path)
    for _ in range(args.repeats):
        actor.zero_grad(set_to_none=True)
        with torch.no_grad():
            a0 = actor(feat0).sample()
            ret0, v0 = first_step_return(agent, start, a0)
        loss = -(actor(feat0).log_prob(a0) * (ret0 - v0)).mean()
        loss.backward()
        g_rf += -flat_grad(actor) / args.repeats
        b_rf += -actor.mean.bias.grad / args.repeats

    # the agent's own actor loss (all steps, weights, return scale, entropy bonus)
    actor.zero_grad(set_to_none=True)
    with torch.no_grad():
        roll = wm.imagine(start, agent._policy, agent.cfg.horizon)
        value = critic(roll.feat).mean
        cont, gamma, weight = agent._discounts(roll, None)
        ret = lambda_return(roll.reward.float(), value.float(), cont, gamma, agent.cfg.lam)
        scale = agent.return_norm.scale()
    policy = actor(roll.feat[:-1])
    loss = actor_loss(
        ret, value[:-1], policy.log_prob(roll.action), policy.entropy(), weight, scale, 1.0,
        agent.cfg.actor_entropy,
    )  # fmt: skip
    loss.backward()
    g_agent = -flat_grad(actor)
    b_agent = -actor.mean.bias.grad.clone()

    def cos(x: torch.Tensor, y: torch.Tensor) -> float:
        return float(torch.nn.functional.cosine_similarity(x, y, dim=0))

    with torch.no_grad():
        mean_action = actor(feat0).mode().mean(0)
    print(f"run {args.run_dir}: {args.starts} starts, {args.repeats} REINFORCE resamples")
    print(f"policy mean action over the starts: {np.round(mean_action.numpy(), 3)}")
    print(f"cos(pathwise, REINFORCE first step) = {cos(g_path, g_rf):+.3f}")
    print(f"cos(pathwise, agent actor loss)     = {cos(g_path, g_agent):+.3f}")
    print(f"mean-layer bias ascent direction: pathwise {b_path.numpy()}, REINFORCE "
          f"{b_rf.numpy()}, agent loss {b_agent.numpy()}")  # fmt: skip


if __name__ == "__main__":
    main()
