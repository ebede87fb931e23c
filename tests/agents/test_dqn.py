"""DQN known answers: the double-DQN n-step target and Huber loss, target syncs, epsilon."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from worldmodels.agents.dqn import DQNAgent
from worldmodels.envs.spaces import ActSpec, ArraySpec

OBS = {"vector": ArraySpec((4,), "float32")}
ACT = ActSpec(3, True)


def make(**kw) -> DQNAgent:
    torch.manual_seed(0)
    args: dict[str, Any] = dict(units=16, layers=1, batch=8, eps_decay_steps=100)
    args.update(kw)
    return DQNAgent(OBS, ACT, **args)


def batch(n: int = 8, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "obs": {"vector": torch.randn(n, 4, generator=g)},
        "action": F.one_hot(torch.randint(3, (n,), generator=g), 3).float(),
        "reward": torch.randn(n, generator=g),
        "discount": torch.tensor([0.99**3, 0.0] * (n // 2)),
        "next_obs": {"vector": torch.randn(n, 4, generator=g)},
    }


@pytest.mark.parametrize("double", [True, False])
def test_loss_is_huber_to_the_double_dqn_target(double: bool) -> None:
    agent = make(double=double)
    b = batch()
    with torch.no_grad():  # perturb the target net, so online and target disagree
        for p in agent.q_target.parameters():
            p.add_(0.3 * torch.randn_like(p))
        q_next_online = agent.q(b["next_obs"])
        q_next_target = agent.q_target(b["next_obs"])
        pick = (q_next_online if double else q_next_target).argmax(-1, keepdim=True)
        target = b["reward"] + b["discount"] * q_next_target.gather(-1, pick).squeeze(-1)
        q_taken = (agent.q(b["obs"]) * b["action"]).sum(-1)
        expected = F.smooth_l1_loss(q_taken, target)
    metrics = agent.update(b)
    assert torch.allclose(metrics["agent/q_loss"], expected, atol=1e-6)
    assert torch.allclose(metrics["agent/target_mean"], target.mean(), atol=1e-6)


def test_hard_target_sync_every_n_updates() -> None:
    agent = make(target_every=3, target_tau=1.0)
    b = batch()
    start = [p.clone() for p in agent.q_target.parameters()]
    for i in range(1, 4):
        agent.update(b)
        same = all(torch.equal(a, s) for a, s in zip(agent.q_target.parameters(), start))
        synced = all(
            torch.equal(a, o) for a, o in zip(agent.q_target.parameters(), agent.q.parameters())
        )
        assert same == (i < 3) and synced == (i == 3)


def test_polyak_target() -> None:
    agent = make(target_every=1, target_tau=0.1)
    old = [p.clone() for p in agent.q_target.parameters()]
    agent.update(batch())
    for t, o, q in zip(agent.q_target.parameters(), old, agent.q.parameters()):
        assert torch.allclose(t, 0.9 * o + 0.1 * q, atol=1e-6)


def test_epsilon_schedule_and_greedy_eval() -> None:
    agent = make(eps_start=1.0, eps_end=0.1, eps_decay_steps=100)
    obs = {"vector": torch.randn(50, 4), "is_first": torch.zeros(50, dtype=torch.bool)}
    assert agent.epsilon() == 1.0
    greedy = agent.q(obs).argmax(-1)
    a, _ = agent.act(obs, None, "explore")  # eps = 1: uniform, about 1/3 agree with greedy
    assert agent.env_steps == 50 and agent.epsilon() == pytest.approx(0.55)
    assert (a.argmax(-1) == greedy).float().mean() < 0.7
    agent.act(obs, None, "explore")
    assert agent.epsilon() == pytest.approx(0.1)  # decayed and held at eps_end
    evals, _ = agent.act(obs, None, "eval")
    assert torch.equal(evals.argmax(-1), greedy) and agent.env_steps == 100  # eval does not count
    assert agent.observe_metrics() == {"agent/epsilon": pytest.approx(0.1)}
    with pytest.raises(ValueError, match="valid options"):
        agent.act(obs, None, "greedy")  # type: ignore[arg-type]


def test_plain_head_and_bad_options() -> None:
    agent = make(dueling=False)
    assert agent.update(batch())["agent/q_loss"].dim() == 0
    with pytest.raises(ValueError, match="target_tau"):
        make(target_tau=0.0)
    with pytest.raises(ValueError, match="unknown input"):
        make(input="pixels")
    with pytest.raises(ValueError, match="needs input=latent"):
        make(imagination=True)  # imagination needs a world model to dream in


def test_weighted_step_ignores_masked_transitions() -> None:
    """Latent transitions carry a mask [M]: masked rows add nothing to the loss or the target."""
    agent = make(double=True)
    b = batch()
    weight = torch.tensor([1.0, 0.0] * 4)
    with torch.no_grad():
        q_next_target = agent.q_target(b["next_obs"])
        pick = agent.q(b["next_obs"]).argmax(-1, keepdim=True)
        target = b["reward"] + b["discount"] * q_next_target.gather(-1, pick).squeeze(-1)
        q_taken = (agent.q(b["obs"]) * b["action"]).sum(-1)
        keep = weight.bool()
        expected = F.smooth_l1_loss(q_taken[keep], target[keep])
    metrics = agent._step(b["obs"], b["action"], b["reward"], b["discount"], b["next_obs"], weight)
    assert torch.allclose(metrics["agent/q_loss"], expected, atol=1e-6)
    assert torch.allclose(metrics["agent/target_mean"], target[keep].mean(), atol=1e-6)
