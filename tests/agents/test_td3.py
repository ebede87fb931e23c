"""TD3 known answers: the smoothed twin-min target, delayed actor and target updates, noise."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from worldmodels.agents.td3 import TD3Agent
from worldmodels.envs.spaces import ActSpec, ArraySpec

OBS = {"vector": ArraySpec((3,), "float32")}
ACT = ActSpec(2, False)


def make(**kw) -> TD3Agent:
    torch.manual_seed(0)
    args: dict[str, Any] = dict(units=16, layers=1, batch=8)
    args.update(kw)
    return TD3Agent(OBS, ACT, **args)


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
    agent = make(policy_noise=0.3, noise_clip=0.4)
    b = batch()
    with torch.no_grad():
        for p in [*agent.critic_target.parameters(), *agent.actor_target.parameters()]:
            p.add_(0.2 * torch.randn_like(p))
        torch.manual_seed(5)
        next_action = agent.actor_target(b["next_obs"]["vector"])
        noise = (0.3 * torch.randn_like(next_action)).clamp(-0.4, 0.4)
        next_action = (next_action + noise).clamp(-1, 1)
        q_next = agent.critic_target(b["next_obs"]["vector"], next_action).min(0).values
        target = b["reward"] + b["discount"] * q_next
        actor_q = agent.critic(b["obs"]["vector"], agent.actor(b["obs"]["vector"]))[0]
    q = agent.critic(b["obs"]["vector"], b["action"])
    expected = ((q[0] - target) ** 2).mean() + ((q[1] - target) ** 2).mean()
    critic_grads = torch.autograd.grad(expected, list(agent.critic.parameters()))
    torch.manual_seed(5)
    metrics = agent.update(b)
    assert torch.allclose(metrics["agent/critic_loss"], expected, atol=1e-5)
    for p, g in zip(agent.critic.parameters(), critic_grads):  # the actor's loss adds nothing
        assert p.grad is not None and torch.allclose(p.grad, g, atol=1e-6)
    assert torch.allclose(metrics["agent/actor_loss"], -actor_q.mean(), atol=1e-5)  # Q1 only


def test_delayed_actor_and_targets() -> None:
    agent = make(policy_delay=2, tau=0.5)
    snap = lambda m: [p.clone() for p in m.parameters()]  # noqa: E731
    for i in range(4):
        actor, actor_t, critic_t = (
            snap(agent.actor),
            snap(agent.actor_target),
            snap(agent.critic_target),
        )
        agent.update(batch(seed=i))
        moved = lambda m, old: not all(torch.equal(a, b) for a, b in zip(m.parameters(), old))  # noqa: E731
        expect = i % 2 == 0  # updates 0, 2 train the actor and move the targets
        assert moved(agent.actor, actor) == expect
        assert moved(agent.actor_target, actor_t) == expect
        assert moved(agent.critic_target, critic_t) == expect


def test_exploration_noise_and_deterministic_eval() -> None:
    agent = make(explore_noise=0.3)
    obs = {"vector": torch.randn(2000, 3), "is_first": torch.zeros(2000, dtype=torch.bool)}
    a_eval, _ = agent.act(obs, None, "eval")
    assert torch.allclose(a_eval, agent.actor(obs["vector"]))
    a_explore, _ = agent.act(obs, None, "explore")
    assert a_explore.abs().max() <= 1.0
    inside = a_eval.abs() < 0.5  # away from the clip, the noise std shows
    std = (a_explore - a_eval)[inside].std()
    assert abs(float(std) - 0.3) < 0.03


def test_weighted_critic_loss_ignores_masked_transitions() -> None:
    """Latent transitions carry a mask [M]: masked rows add nothing to the critic loss."""
    agent = make()
    b = batch()
    weight = torch.tensor([1.0, 1.0, 0.0, 1.0] * 2)
    keep = weight.bool()
    feat, next_feat = b["obs"]["vector"], b["next_obs"]["vector"]
    with torch.no_grad():
        torch.manual_seed(5)
        next_action = agent.actor_target(next_feat)
        noise = (0.2 * torch.randn_like(next_action)).clamp(-0.5, 0.5)
        next_action = (next_action + noise).clamp(-1, 1)
        q_next = agent.critic_target(next_feat, next_action).min(0).values
        target = b["reward"] + b["discount"] * q_next
        q = agent.critic(feat, b["action"])
        expected = sum(((q[i] - target)[keep] ** 2).mean() for i in range(2))
    torch.manual_seed(5)
    metrics = agent._step(feat, b["action"], b["reward"], b["discount"], next_feat, weight)
    assert torch.allclose(metrics["agent/critic_loss"], expected, atol=1e-5)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="unknown input"):
        make(input="pixels")
    with pytest.raises(ValueError, match="needs input=latent"):
        make(imagination=True)
    with pytest.raises(ValueError, match="policy_delay"):
        make(policy_delay=0)
