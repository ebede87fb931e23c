"""The speed paths give the same results as the plain ones: the gradient-free categorical sampler
(inverse CDF) draws from the same distribution as the straight-through one, the buffered
imagination equals the stacked one, and the padded two-hot output layer equals nn.Linear."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from worldmodels.models.dists import OneHotST, sample_onehot, unimix_logits, unimix_probs
from worldmodels.models.nets import PaddedLinear
from worldmodels.models.rssm import RSSM


def test_unimix_probs_are_the_exp_of_unimix_logits():
    logits = torch.randn(64, 32, 4) * 3
    for mix in (0.0, 0.01):
        probs = unimix_probs(logits, mix)
        assert torch.allclose(probs, unimix_logits(logits, mix).exp(), atol=1e-6)
        assert torch.allclose(probs.sum(-1), torch.ones(64, 32), atol=1e-6)


def test_inverse_cdf_sample_frequencies_match_the_straight_through_sampler():
    torch.manual_seed(0)
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5]]).log_softmax(-1)
    n = 200_000
    probs = logits.exp().expand(n, 4)
    fast = sample_onehot(probs)
    st = OneHotST(logits.expand(n, 4)).sample()
    assert torch.equal(fast.sum(-1), torch.ones(n))  # exactly one-hot
    # 4 sigma of a frequency at n = 200k is about 0.0045
    assert torch.allclose(fast.mean(0), probs[0], atol=0.005)
    assert torch.allclose(fast.mean(0), st.mean(0), atol=0.007)


def test_inverse_cdf_never_draws_a_zero_probability_class():
    torch.manual_seed(0)
    probs = torch.tensor([0.0, 0.5, 0.0, 0.5]).expand(50_000, 4)
    draws = sample_onehot(probs)
    assert draws[:, 0].sum() == 0 and draws[:, 2].sum() == 0
    last = torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(1000, 4)  # the CDF's rounding edge
    assert torch.equal(sample_onehot(last), last)


def make_rssm(**kw) -> RSSM:
    torch.manual_seed(0)
    return RSSM(12, 2, deter=16, stoch=4, classes=3, hidden=8, core="block", gru_blocks=2,
                norm="rms", learned_initial=False, **kw)  # fmt: skip


@pytest.mark.parametrize("policy", [True, False])
def test_buffered_imagination_equals_the_stacked_one(policy):
    rssm = make_rssm()
    torch.manual_seed(1)
    start = {"deter": torch.randn(5, 16), "stoch": torch.zeros(5, 12), "stat": torch.randn(5, 12)}
    head = nn.Linear(rssm.feat_dim, 2)
    acts = head if policy else torch.randn(4, 5, 2)
    with torch.no_grad():
        torch.manual_seed(2)
        states, actions, feat = rssm.imagine_features(start, acts, 4)
        torch.manual_seed(2)
        ref_states, ref_actions = rssm._imagine_stacked(start, acts, 4)
    assert feat.shape == (5, 5, rssm.feat_dim)
    assert torch.equal(feat, rssm.feat(ref_states))
    assert torch.equal(actions, ref_actions)
    for key in ("deter", "stoch", "stat"):
        assert torch.equal(states[key], ref_states[key]), key
    # with gradients the rollout stacks (in-place writes would break autograd) and backprops
    states, actions, feat = rssm.imagine_features(start, head, 4)
    feat.sum().backward()
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0


def test_padded_linear_equals_linear_in_value_and_gradient():
    torch.manual_seed(0)
    plain = nn.Linear(64, 255)
    padded = PaddedLinear(64, 255)
    padded.load_state_dict(plain.state_dict())
    assert [n for n, _ in padded.named_parameters()] == ["weight", "bias"]
    assert padded.weight.shape == (255, 64) and padded.pad == 1
    x = torch.randn(300, 64)
    y_plain, y_pad = plain(x), padded(x)
    assert y_pad.shape == (300, 255)
    assert torch.allclose(y_plain, y_pad, atol=1e-5)
    y_plain.square().sum().backward()
    y_pad.square().sum().backward()
    assert torch.allclose(plain.weight.grad, padded.weight.grad, rtol=1e-4, atol=1e-4)
    assert torch.allclose(plain.bias.grad, padded.bias.grad, rtol=1e-4, atol=1e-4)
