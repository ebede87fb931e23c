"""Known answers for Dreamer's actor-critic math (worldmodels/objectives/dreamer_losses.py)."""

from __future__ import annotations

import pytest
import torch

from worldmodels.objectives.dreamer_losses import (
    ReturnNorm,
    actor_loss,
    critic_loss,
    imagination_weight,
    reinforce_weight,
)


def test_reinforce_weight_per_mode():
    assert reinforce_weight("dynamics", 0.3, False) == 0.0
    assert reinforce_weight("reinforce", 0.3, False) == 1.0
    assert reinforce_weight("mix", 0.3, False) == 0.3
    assert reinforce_weight("auto", 0.3, True) == 1.0
    assert reinforce_weight("auto", 0.3, False) == 0.0
    with pytest.raises(ValueError, match="valid: dynamics, reinforce, mix, auto"):
        reinforce_weight("backprop", 0.1, False)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        reinforce_weight("mix", 1.5, False)


def test_imagination_weight_is_survival_probability():
    start = torch.tensor([1.0, 0.0])
    cont = torch.tensor([[0.5, 1.0], [0.5, 1.0], [1.0, 1.0]])  # [H=3, N=2]
    w = imagination_weight(start, cont)
    assert torch.allclose(w, torch.tensor([[1.0, 0.0], [0.5, 0.0], [0.25, 0.0]]))


def test_return_norm_tracks_percentiles_with_a_floor():
    norm = ReturnNorm(decay=0.0)  # no smoothing: the batch's own percentiles
    ret = torch.arange(101.0)  # P5 = 5, P95 = 95
    assert norm.update(ret).item() == pytest.approx(90.0)
    assert torch.allclose(norm.low_high, torch.tensor([5.0, 95.0]))
    assert norm.update(torch.full((10,), 3.0)).item() == 1.0  # spread 0 -> the limit
    slow = ReturnNorm(decay=0.99)
    for _ in range(2000):
        slow.update(ret)
    assert slow.scale().item() == pytest.approx(90.0, rel=1e-3)


def test_actor_loss_gradients_per_estimator():
    h, n = 3, 4
    ret = torch.randn(h, n, requires_grad=True)
    log_prob = torch.randn(h, n, requires_grad=True)
    base, ent, weight = torch.randn(h, n), torch.rand(h, n), torch.rand(h, n)
    scale = 2.0
    # REINFORCE: d loss / d log_prob = -w * (ret - base) / scale / (H N); no gradient to ret
    loss = actor_loss(ret, base, log_prob, ent, weight, scale, rho=1.0, entropy_coef=0.0)
    g_lp, g_ret = torch.autograd.grad(loss, [log_prob, ret], allow_unused=True)
    assert torch.allclose(g_lp, -weight * (ret - base).detach() / scale / (h * n))
    assert g_ret is None
    # dynamics backprop: d loss / d ret = -w / scale / (H N); no gradient to log_prob
    loss = actor_loss(ret, base, log_prob, ent, weight, scale, rho=0.0, entropy_coef=0.0)
    g_lp, g_ret = torch.autograd.grad(loss, [log_prob, ret], allow_unused=True)
    assert g_lp is None and torch.allclose(g_ret, -weight / scale / (h * n))
    # the entropy bonus lowers the loss
    ent_t = torch.ones(h, n)
    low = actor_loss(ret, base, log_prob, ent_t, weight, scale, rho=1.0, entropy_coef=0.1)
    high = actor_loss(ret, base, log_prob, ent_t, weight, scale, rho=1.0, entropy_coef=0.0)
    assert torch.allclose(high - low, 0.1 * weight.mean())


def test_critic_loss_weights_and_slow_regularizer():
    lp_ret, lp_slow, w = -torch.rand(2, 3), -torch.rand(2, 3), torch.rand(2, 3)
    assert torch.allclose(critic_loss(lp_ret, None, w, 1.0), (-lp_ret * w).mean())
    assert torch.allclose(
        critic_loss(lp_ret, lp_slow, w, 0.5), ((-lp_ret - 0.5 * lp_slow) * w).mean()
    )
    assert torch.allclose(critic_loss(lp_ret, lp_slow, w, 0.0), (-lp_ret * w).mean())
