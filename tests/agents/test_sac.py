"""SAC known answers: the soft twin-min critic target and loss, temperature direction, Polyak."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from worldmodels.agents.sac import SACAgent
from worldmodels.envs.spaces import ActSpec, ArraySpec
from worldmodels.models.dists import tanh_gaussian_sample

OBS = {"vector": ArraySpec((3,), "float32")}
ACT = ActSpec(2, False)


def make(**kw) -> SACAgent:
    torch.manual_seed(0)
    args: dict[str, Any] = dict(units=16, layers=1, batch=8)
    args.update(kw)
    return SACAgent(OBS, ACT, **args)


def batch(n: int = 8, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "obs": {"vector": torch.randn(n, 3, generator=g)},
        "action": torch.rand(n, 2, generator=g) * 2 - 1,
        "reward": torch.randn(n, generator=g),
        "discount": torch.tensor([0.99, 0.0] * (n // 2)),
        "next_obs": {"vector": torch.randn(n, 3, generator=g)},
    }


def test_critic_loss_known_answer() -> None:
    agent = make(init_alpha=0.5)
    b = batch()
    with torch.no_grad():
        for p in agent.critic_target.parameters():  # targets differ from the online critic
            p.add_(0.2 * torch.randn_like(p))
        torch.manual_seed(3)  # the update draws the next-action noise first, from this seed
        next_action, next_logp = tanh_gaussian_sample(*agent.actor(b["next_obs"]["vector"]))
        q_next = agent.critic_target(b["next_obs"]["vector"], next_action).min(0).values
        target = b["reward"] + b["discount"] * (q_next - 0.5 * next_logp)
    q = agent.critic(b["obs"]["vector"], b["action"])  # [2, B]
    expected = 0.5 * ((q[0] - target) ** 2).mean() + 0.5 * ((q[1] - target) ** 2).mean()
    critic_grads = torch.autograd.grad(expected, list(agent.critic.parameters()))
    torch.manual_seed(3)
    metrics = agent.update(b)
    assert torch.allclose(metrics["agent/critic_loss"], expected, atol=1e-5)
    # The critic's gradients come from its own loss only: the actor's loss reads it frozen.
    for p, g in zip(agent.critic.parameters(), critic_grads):
        assert p.grad is not None and torch.allclose(p.grad, g, atol=1e-6)
    assert torch.allclose(metrics["agent/alpha"], torch.tensor(0.5))


@pytest.mark.parametrize("target_entropy,direction", [(-100.0, -1), (100.0, 1)])
def test_temperature_moves_toward_the_entropy_target(target_entropy: float, direction: int) -> None:
    agent = make(target_entropy=target_entropy, alpha_lr=1e-2)
    for _ in range(3):
        agent.update(batch())
    change = float(agent.log_alpha.detach())  # init_alpha 1: log_alpha starts at 0
    assert change * direction > 0


def test_default_entropy_target_is_minus_action_dims() -> None:
    assert make().target_entropy == -2.0


def test_polyak_critic_target_and_actor_learns_only_from_actor_loss() -> None:
    agent = make(tau=0.1)
    old_target = [p.clone() for p in agent.critic_target.parameters()]
    agent.update(batch())
    for t, o, c in zip(agent.critic_target.parameters(), old_target, agent.critic.parameters()):
        assert torch.allclose(t, 0.9 * o + 0.1 * c, atol=1e-6)
    # actor_every=2: the second update leaves the actor alone
    agent = make(actor_every=2)
    agent.update(batch())
    actor = [p.clone() for p in agent.actor.parameters()]
    critic = [p.clone() for p in agent.critic.parameters()]
    agent.update(batch(seed=1))
    assert all(torch.equal(a, b) for a, b in zip(agent.actor.parameters(), actor))
    assert not all(torch.equal(a, b) for a, b in zip(agent.critic.parameters(), critic))


def test_eval_is_tanh_of_the_mean_and_explore_samples() -> None:
    agent = make()
    obs = {"vector": torch.randn(6, 3), "is_first": torch.zeros(6, dtype=torch.bool)}
    mean, _ = agent.actor(obs["vector"])
    a_eval, _ = agent.act(obs, None, "eval")
    a_explore, _ = agent.act(obs, None, "explore")
    assert torch.allclose(a_eval, torch.tanh(mean))
    assert not torch.allclose(a_explore, a_eval)
