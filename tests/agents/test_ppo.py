"""PPO known answers: clipped surrogate, clipped value loss, masking of rows without a transition,
observation normalization, discrete sampling, continuous clipping."""

from __future__ import annotations

import pytest
import torch

from worldmodels.agents.ppo import PPOAgent, clipped_surrogate, masked_mean, value_loss
from worldmodels.data.rollout import RolloutBuffer
from worldmodels.envs.spaces import ActSpec, ArraySpec, row_spec

OBS = {"vector": ArraySpec((3,), "float32")}


def test_clipped_surrogate_known_answer() -> None:
    ratio = torch.tensor([1.5, 0.5, 1.1, 0.7, 3.0])
    adv = torch.tensor([1.0, 1.0, -2.0, -1.0, 5.0])
    mask = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])  # the last row carries no transition
    # per row: max(-A r, -A clip(r, 0.8, 1.2))
    expected = torch.tensor([-1.2, -0.5, 2.2, 0.8]).mean()
    assert torch.allclose(clipped_surrogate(ratio.log(), adv, mask, 0.2), expected)


def test_value_loss_known_answer() -> None:
    value = torch.tensor([1.0, 3.0, 0.0])
    old = torch.tensor([0.0, 0.0, 0.0])
    ret = torch.tensor([2.0, 0.0, 1.0])
    mask = torch.ones(3)
    assert torch.allclose(value_loss(value, old, ret, mask, 0.0), torch.tensor((1 + 9 + 1) / 6))
    # clipped to old +- 0.5: values 0.5, 0.5, 0.0 -> errors 2.25, 0.25, 1 -> max with plain errors
    assert torch.allclose(value_loss(value, old, ret, mask, 0.5), torch.tensor((2.25 + 9 + 1) / 6))


def test_masked_mean_ignores_masked_rows() -> None:
    assert float(masked_mean(torch.tensor([1.0, 2.0, 100.0]), torch.tensor([1.0, 1.0, 0.0]))) == 1.5


def fill(agent: PPOAgent, n_envs: int = 2, seed: int = 0) -> RolloutBuffer:
    g = torch.Generator().manual_seed(seed)
    buf = RolloutBuffer(agent.data.length, n_envs, row_spec(agent.obs_spec, agent.act_spec))
    for t in range(agent.data.length + 1):
        obs = {"vector": torch.randn(n_envs, 3, generator=g) * 5 + 3}
        action, _ = agent.act(
            {**obs, "is_first": torch.zeros(n_envs, dtype=torch.bool)}, None, "explore"
        )
        last = torch.tensor([t == 3] * n_envs)
        first = torch.tensor([t == 4] * n_envs)
        reward = torch.randn(n_envs, generator=g)
        buf.add(
            {
                **obs,
                "action": action,
                "reward": reward,
                "is_first": first,
                "is_last": last,
                "is_terminal": last,
            }
        )
    return buf


def test_first_epoch_starts_on_policy_and_masks_episode_ends() -> None:
    torch.manual_seed(0)
    agent = PPOAgent(OBS, ActSpec(2, False), units=16, rollout=8, epochs=1, minibatches=1)
    buf = fill(agent)
    # With one epoch of one minibatch, the ratio is exactly 1 at the only step: no clipping, and
    # the approximate KL is 0 (old log-probs come from the same policy, recomputed in update).
    metrics = agent.update(buf)
    assert float(metrics["agent/clip_frac"]) == 0.0
    assert abs(float(metrics["agent/approx_kl"])) < 1e-6
    _, ret, mask = buf.advantages(torch.zeros(9, 2), agent.gamma, agent.lam)
    assert mask[3].sum() == 0  # the is_last row carries no transition


def test_obs_norm_updates_from_rollouts_only() -> None:
    torch.manual_seed(0)
    agent = PPOAgent(OBS, ActSpec(3, True), units=16, rollout=16, obs_norm=True)
    assert agent.obs_rms is not None
    buf = fill(agent, n_envs=4)
    assert torch.equal(agent.obs_rms.mean, torch.zeros(3))  # acting does not touch the statistics
    agent.update(buf)
    rows = buf.rows()["vector"][1:].reshape(-1, 3)
    assert torch.allclose(agent.obs_rms.mean, rows.mean(0), atol=1e-2)
    assert "obs_rms" in agent.state_dict()


def test_discrete_sampling_follows_the_softmax() -> None:
    torch.manual_seed(0)
    agent = PPOAgent(OBS, ActSpec(3, True), units=16)
    obs = {
        "vector": torch.randn(1, 3).expand(20000, 3),
        "is_first": torch.zeros(20000, dtype=torch.bool),
    }
    with torch.no_grad():
        last = list(agent.actor.modules())[-1]
        assert isinstance(last, torch.nn.Linear)
        last.bias.copy_(torch.tensor([0.0, 1.0, 2.0]))  # a policy far from uniform
        probs = torch.softmax(agent.actor(obs["vector"][:1]), -1)[0]
    actions, _ = agent.act(obs, None, "explore")
    assert torch.allclose(actions.mean(0), probs, atol=0.015)
    greedy, _ = agent.act(obs, None, "eval")
    assert torch.equal(greedy.argmax(-1), torch.full((20000,), int(probs.argmax())))


def test_continuous_actions_clipped_and_errors() -> None:
    torch.manual_seed(0)
    agent = PPOAgent(OBS, ActSpec(2, False), units=16, init_log_std=1.0)
    obs = {"vector": torch.randn(500, 3), "is_first": torch.zeros(500, dtype=torch.bool)}
    a, _ = agent.act(obs, None, "explore")
    assert a.abs().max() == 1.0  # std e: many samples hit the bounds, none pass them
    with pytest.raises(ValueError, match="unknown input"):
        PPOAgent(OBS, ActSpec(2, False), input="pixels")
    agent = PPOAgent(OBS, ActSpec(2, False), rollout=1, minibatches=4)
    with pytest.raises(ValueError, match="minibatches"):
        agent.update(fill(agent, n_envs=2))
