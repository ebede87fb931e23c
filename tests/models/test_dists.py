"""Known answers for the distributions: symlog, two-hot, straight-through categorical, KLs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as D
import torch.nn.functional as F

from worldmodels.models.dists import (
    Bernoulli,
    BoundedNormal,
    MSEDist,
    OneHotST,
    TanhNormal,
    TwoHot,
    categorical_kl,
    gaussian_kl,
    symexp,
    symlog,
    twohot_bins,
    twohot_encode,
    unimix_logits,
)


def test_symlog_symexp_round_trip_and_values():
    x = torch.tensor([-1e4, -3.0, -0.5, 0.0, 0.5, 3.0, 1e4], dtype=torch.float64)
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-9)
    assert torch.allclose(symlog(torch.tensor([0.0, math.e - 1])), torch.tensor([0.0, 1.0]))
    assert symlog(torch.tensor(-(math.e - 1))).item() == pytest.approx(-1.0)


def test_twohot_encode_two_neighbours_and_exact_mean():
    bins = twohot_bins(255)
    x = symlog(torch.tensor([-300.0, -1.234, 0.0, 0.07, 5.5, 12345.0]))
    w = twohot_encode(x, bins)  # [6, 255]
    assert torch.allclose(w.sum(-1), torch.ones(6))
    assert ((w > 0).sum(-1) <= 2).all()
    assert torch.allclose((w * bins).sum(-1), x, atol=1e-5)
    # the two non-zero bins bracket the value
    nz = [torch.nonzero(row).flatten() for row in w]
    for value, idx in zip(x, nz):
        assert bins[idx].min() <= value + 1e-6 and bins[idx].max() >= value - 1e-6


def test_twohot_clips_outside_the_bin_range():
    bins = twohot_bins(5, -2.0, 2.0)
    w = twohot_encode(torch.tensor([-10.0, 10.0]), bins)
    assert torch.equal(w, F.one_hot(torch.tensor([0, 4]), 5).float())


def test_twohot_dist_round_trip_and_log_prob_peaks_at_target():
    bins = twohot_bins(255)
    target = torch.tensor([-42.0, -1.0, 0.0, 0.3, 7.0, 900.0])
    logits = torch.log(twohot_encode(symlog(target), bins) + 1e-12)
    dist = TwoHot(logits, bins)
    assert torch.allclose(dist.mean, target, rtol=1e-4, atol=1e-4)
    # cross-entropy against the target is lower for these logits than for shifted ones
    other = TwoHot(torch.log(twohot_encode(symlog(target + 1.0), bins) + 1e-12), bins)
    assert (dist.log_prob(target) > other.log_prob(target)).all()


def test_twohot_learns_a_regression_target_by_gradient():
    bins = twohot_bins(255)
    logits = torch.zeros(3, 255, requires_grad=True)
    target = torch.tensor([-5.0, 0.5, 250.0])
    opt = torch.optim.Adam([logits], lr=0.1)
    for _ in range(300):
        loss = -TwoHot(logits, bins).log_prob(target).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.allclose(symlog(TwoHot(logits, bins).mean), symlog(target), atol=0.05)


def test_unimix_floors_probabilities():
    logits = torch.tensor([[20.0, 0.0, -20.0, -20.0]])
    probs = unimix_logits(logits, 0.01).exp()
    assert torch.allclose(probs.sum(-1), torch.ones(1))
    assert probs.min() >= 0.01 / 4 - 1e-7
    assert torch.allclose(unimix_logits(logits, 0.0).exp(), torch.softmax(logits, -1))


def test_onehot_straight_through_values_and_gradients():
    torch.manual_seed(0)
    logits = torch.randn(64, 5, requires_grad=True)
    dist = OneHotST(logits)
    sample = dist.sample()
    # one-hot values (up to float rounding of probs - sg(probs))
    hard = F.one_hot(sample.detach().argmax(-1), 5).float()
    assert torch.allclose(sample.detach(), hard, atol=1e-6)
    # gradient of the sample equals the gradient of the probabilities (straight-through)
    coef = torch.randn(64, 5)
    (g_sample,) = torch.autograd.grad((sample * coef).sum(), logits)
    (g_probs,) = torch.autograd.grad((torch.softmax(logits, -1) * coef).sum(), logits)
    assert torch.allclose(g_sample, g_probs, atol=1e-6)
    # mode is the argmax
    assert torch.equal(dist.mode().detach().argmax(-1), logits.argmax(-1))


def test_onehot_sample_frequencies_match_probs():
    torch.manual_seed(1)
    logits = torch.log(torch.tensor([0.1, 0.2, 0.7])).expand(20000, 3)
    freq = OneHotST(logits).sample().mean(0)
    assert torch.allclose(freq, torch.tensor([0.1, 0.2, 0.7]), atol=0.015)


def test_onehot_log_prob_and_entropy_match_torch():
    logits = torch.randn(7, 4)
    ref = D.OneHotCategorical(logits=logits)
    x = ref.sample()
    dist = OneHotST(logits)
    assert torch.allclose(dist.log_prob(x), ref.log_prob(x), atol=1e-6)
    assert torch.allclose(dist.entropy(), ref.entropy(), atol=1e-6)


def test_categorical_and_gaussian_kl_match_torch():
    p, q = torch.randn(6, 5), torch.randn(6, 5)
    lp, lq = torch.log_softmax(p, -1), torch.log_softmax(q, -1)
    ref = D.kl_divergence(D.Categorical(logits=p), D.Categorical(logits=q))
    assert torch.allclose(categorical_kl(lp, lq), ref, atol=1e-6)
    assert torch.allclose(categorical_kl(lp, lp), torch.zeros(6), atol=1e-6)
    m1, m2, s1, s2 = (
        torch.randn(4, 3),
        torch.randn(4, 3),
        torch.rand(4, 3) + 0.1,
        torch.rand(4, 3) + 0.1,
    )
    ref_g = D.kl_divergence(D.Normal(m1, s1), D.Normal(m2, s2))
    assert torch.allclose(gaussian_kl(m1, s1, m2, s2), ref_g, atol=1e-5)


def test_bounded_normal_ranges_and_log_prob():
    raw = torch.randn(100, 6) * 5
    dist = BoundedNormal(raw)
    assert dist.mode().abs().max() <= 1.0
    assert dist.std.min() >= 0.1 and dist.std.max() <= 1.0
    x = dist.sample()
    ref = D.Independent(D.Normal(dist.loc, dist.std), 1)
    assert torch.allclose(dist.log_prob(x), ref.log_prob(x), atol=1e-5)
    assert torch.allclose(dist.entropy(), ref.entropy(), atol=1e-5)


def test_tanh_normal_samples_in_range_and_log_prob():
    torch.manual_seed(0)
    raw = torch.randn(50, 4)
    dist = TanhNormal(raw)
    x = dist.rsample()
    assert x.abs().max() <= 1.0
    ref = D.TransformedDistribution(D.Normal(dist.loc, dist.std), [D.TanhTransform()])
    x = x.clamp(-0.99, 0.99)  # away from the edges, where float32 atanh loses precision
    assert torch.allclose(dist.log_prob(x), ref.log_prob(x).sum(-1), atol=1e-3)
    assert dist.mode().abs().max() < 1.0


def test_bernoulli_and_mse():
    logits = torch.tensor([-2.0, 0.0, 3.0])
    target = torch.tensor([0.0, 1.0, 1.0])
    assert torch.allclose(
        Bernoulli(logits).log_prob(target), D.Bernoulli(logits=logits).log_prob(target)
    )
    mse = MSEDist(torch.zeros(2, 3, 4), dims=2)
    assert torch.allclose(mse.log_prob(torch.ones(2, 3, 4)), torch.full((2,), -12.0))
    sym = MSEDist(symlog(torch.tensor([[10.0]])), dims=1, use_symlog=True)
    assert torch.allclose(sym.mean, torch.tensor([[10.0]]))
    assert sym.log_prob(torch.tensor([[10.0]])).abs().item() < 1e-10


def _dense_twohot_reference(x: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """The source's rule written out (embodied/jax/outs.py TwoHot.loss): below = #(bins <= x) - 1,
    above = K - #(bins > x), clipped; weights by distance; equal ends share the mass."""
    k = bins.shape[0]
    xs = x.unsqueeze(-1)
    below = ((bins <= xs).sum(-1) - 1).clamp(0, k - 1)
    above = (k - (bins > xs).sum(-1)).clamp(0, k - 1)
    equal = below == above
    db = torch.where(equal, torch.ones_like(x), (bins[below] - x).abs())
    da = torch.where(equal, torch.ones_like(x), (bins[above] - x).abs())
    eye = torch.eye(k)
    return eye[below] * (da / (da + db)).unsqueeze(-1) + eye[above] * (db / (da + db)).unsqueeze(-1)


@pytest.mark.parametrize("space", ["symlog", "symexp"])
def test_twohot_search_and_gathered_log_prob_match_the_dense_rule(space):
    """One binary search and two gathers give the dense encoding's value and gradient, at bin
    centres, between bins and beyond both ends."""
    torch.manual_seed(0)
    bins = twohot_bins(255, space=space)
    inner = torch.randn(64) * (5.0 if space == "symlog" else 300.0)
    x = torch.cat([inner, bins[[0, 1, 127, 200, 254]], torch.tensor([-1e12, 1e12])])
    assert torch.equal(twohot_encode(x, bins), _dense_twohot_reference(x, bins))
    logits = torch.randn(x.shape[0], 255, requires_grad=True)
    target = symexp(x) if space == "symlog" else x  # log_prob encodes symlog(target) there
    fast = TwoHot(logits, bins, space=space).log_prob(target)
    (g_fast,) = torch.autograd.grad(fast.sum(), logits)
    encoded = symlog(target) if space == "symlog" else target
    dense = (_dense_twohot_reference(encoded, bins) * torch.log_softmax(logits, -1)).sum(-1)
    (g_dense,) = torch.autograd.grad(dense.sum(), logits)
    assert torch.allclose(fast, dense, rtol=1e-5, atol=1e-5)
    assert torch.allclose(g_fast, g_dense, rtol=1e-5, atol=1e-6)
