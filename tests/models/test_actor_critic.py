"""Known answers for the model-free networks and helpers (worldmodels/models/actor_critic.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from worldmodels.envs.spaces import ArraySpec
from worldmodels.models.actor_critic import (
    DuelingQ,
    EnsembleLinear,
    EnsembleQ,
    ObsEncoder,
    RunningMeanStd,
    activation,
    random_shift,
)
from worldmodels.models.dists import (
    categorical_entropy,
    categorical_log_prob,
    clipped_gaussian_log_prob,
    gaussian_entropy,
    gaussian_log_prob,
    tanh_gaussian_sample,
)
from worldmodels.models.optim import clip_grads, polyak_


def test_tanh_gaussian_log_prob_matches_torch_distributions() -> None:
    torch.manual_seed(0)
    mean = torch.randn(64, 3) * 3  # large |u| too: the stable tanh correction matters there
    log_std = torch.randn(64, 3) * 0.5
    torch.manual_seed(1)
    action, log_prob = tanh_gaussian_sample(mean, log_std)
    torch.manual_seed(1)
    u = mean + torch.randn_like(mean) * log_std.exp()
    assert torch.allclose(action, torch.tanh(u))
    # log_prob through the pre-tanh sample (exact; avoids atanh of a saturated action)
    expected = D.Normal(mean, log_std.exp()).log_prob(u).sum(
        -1
    ) - D.TanhTransform().log_abs_det_jacobian(u, action).sum(-1)
    assert torch.allclose(log_prob, expected, atol=1e-4)
    # and the library's own log_prob of the action, where atanh is well conditioned
    inside = action.abs().max(-1).values < 0.999
    m, s = mean[inside], log_std[inside].exp()
    ref = D.Independent(D.TransformedDistribution(D.Normal(m, s), [D.TanhTransform()]), 1)
    assert inside.sum() > 10
    assert torch.allclose(log_prob[inside], ref.log_prob(action[inside]), atol=1e-2)


def test_tanh_gaussian_is_reparameterized() -> None:
    mean = torch.zeros(5, 2, requires_grad=True)
    log_std = torch.zeros(5, 2, requires_grad=True)
    action, log_prob = tanh_gaussian_sample(mean, log_std)
    (action.sum() + log_prob.sum()).backward()
    assert mean.grad is not None and mean.grad.abs().sum() > 0
    assert log_std.grad is not None and log_std.grad.abs().sum() > 0


def test_gaussian_and_categorical_helpers_match_torch() -> None:
    torch.manual_seed(0)
    mean, log_std, x = torch.randn(8, 3), torch.randn(8, 3), torch.randn(8, 3)
    normal = D.Normal(mean, log_std.exp())
    assert torch.allclose(
        gaussian_log_prob(mean, log_std, x), normal.log_prob(x).sum(-1), atol=1e-5
    )
    assert torch.allclose(gaussian_entropy(log_std), normal.entropy().sum(-1), atol=1e-5)
    logits = torch.randn(8, 4)
    idx = torch.randint(4, (8,))
    cat = D.Categorical(logits=logits)
    one_hot = torch.nn.functional.one_hot(idx, 4).float()
    assert torch.allclose(categorical_log_prob(logits, one_hot), cat.log_prob(idx), atol=1e-6)
    assert torch.allclose(categorical_entropy(logits), cat.entropy(), atol=1e-6)


def test_random_shift_replicates_edges_within_pad() -> None:
    H = W = 8
    rows = torch.arange(H)[:, None].expand(H, W)
    cols = torch.arange(W)[None, :].expand(H, W)
    image = torch.stack([rows, cols, torch.zeros_like(rows)], -1).to(torch.uint8)  # [H, W, 3]
    batch = image.expand(32, H, W, 3).contiguous()
    assert torch.equal(random_shift(batch, 0), batch)
    torch.manual_seed(0)
    out = random_shift(batch, 2)
    assert out.shape == batch.shape and out.dtype == torch.uint8
    shifts = set()
    for img in out:
        # Every output row r reads input row clamp(r + dy), every column c reads clamp(c + dx).
        r = img[:, 0, 0].long()
        c = img[0, :, 1].long()
        found = None
        for sy in range(-2, 3):
            for sx in range(-2, 3):
                if torch.equal(r, (torch.arange(H) + sy).clamp(0, H - 1)) and torch.equal(
                    c, (torch.arange(W) + sx).clamp(0, W - 1)
                ):
                    found = (sy, sx)
        assert found is not None, "output is not an edge-replicated integer shift within the pad"
        shifts.add(found)
    assert len(shifts) > 5  # the shifts are drawn per image


def test_obs_encoder_dims_and_augmentation() -> None:
    spec = {"image": ArraySpec((16, 16, 3), "uint8"), "vector": ArraySpec((5,), "float32")}
    enc = ObsEncoder(spec, cnn_depth=4, aug_pad=2)
    obs = {
        "image": torch.randint(0, 256, (3, 16, 16, 3), dtype=torch.uint8),
        "vector": torch.randn(3, 5),
    }
    feat = enc(obs)
    assert feat.shape == (3, enc.out_dim) and enc.out_dim == 8 * 4 * 4 + 5
    assert torch.equal(feat[:, -5:], obs["vector"])  # vectors pass through untouched
    assert torch.equal(enc(obs), feat)  # no augmentation unless asked
    torch.manual_seed(0)
    assert not torch.equal(enc(obs, augment=True), feat)
    with pytest.raises(ValueError, match="obs keys"):
        ObsEncoder({"depth": ArraySpec((4,), "float32")})


def test_ensemble_q_members_are_independent_linears() -> None:
    torch.manual_seed(0)
    q = EnsembleQ(4, 2, units=8, layers=2, members=2)
    feat, action = torch.randn(5, 4), torch.randn(5, 2)
    out = q(feat, action)
    assert out.shape == (2, 5)
    x = torch.cat([feat, action], -1)
    linears = [m for m in q.net if isinstance(m, EnsembleLinear)]
    for e in range(2):
        h = x
        for i, lin in enumerate(linears):
            h = h @ lin.weight[e] + lin.bias[e]
            if i < len(linears) - 1:
                h = torch.relu(h)
        assert torch.allclose(out[e], h.squeeze(-1), atol=1e-5)


def test_dueling_head_identity() -> None:
    torch.manual_seed(0)
    head = DuelingQ(4, 3, units=8, layers=1)
    feat = torch.randn(6, 4)
    q = head(feat)
    h = head.trunk(feat)
    # mean_a Q(s, a) = V(s): the advantages are centred
    assert torch.allclose(q.mean(-1), head.value(h).squeeze(-1), atol=1e-6)


def test_running_mean_std_matches_numpy() -> None:
    rms = RunningMeanStd(3)
    rng = np.random.default_rng(0)
    chunks = [rng.normal(2.0, 3.0, size=(n, 3)).astype(np.float32) for n in (10, 50, 7)]
    for c in chunks:
        rms.update(torch.from_numpy(c))
    data = np.concatenate(chunks)
    assert np.allclose(rms.mean.numpy(), data.mean(0), atol=1e-3)
    assert np.allclose(rms.var.numpy(), data.var(0), rtol=1e-3)
    # masked rows do not count
    masked = RunningMeanStd(3)
    x = torch.cat([torch.from_numpy(data), torch.full((5, 3), 1e6)])
    masked.update(x, weight=torch.cat([torch.ones(len(data)), torch.zeros(5)]))
    assert torch.allclose(masked.mean, rms.mean, atol=1e-3)
    out = rms(torch.from_numpy(data))
    assert abs(float(out.mean())) < 0.05 and abs(float(out.std()) - 1) < 0.05


def test_polyak_known_answer() -> None:
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    with torch.no_grad():
        a.weight.fill_(1.0)
        b.weight.fill_(3.0)
    polyak_(a, b, 0.25)
    assert torch.allclose(a.weight, torch.full((2, 2), 1.5))
    polyak_(a, b, 1.0)
    assert torch.equal(a.weight, b.weight)


def test_clip_grads_reports_norm_and_clips() -> None:
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    norm = clip_grads([p], 1.0)
    assert math.isclose(float(norm), 5.0, rel_tol=1e-6)
    assert math.isclose(float(p.grad.norm()), 1.0, rel_tol=1e-5)
    p.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    assert math.isclose(float(clip_grads([p], 0.0)), 5.0, rel_tol=1e-6)  # reported, not clipped
    assert float(p.grad.norm()) == pytest.approx(5.0)


def test_option_errors_name_the_valid_choices() -> None:
    with pytest.raises(ValueError, match="valid options"):
        activation("gelu6")


def test_clipped_gaussian_log_prob_counts_the_clipped_tails() -> None:
    """Inside the box the density; at a bound the tail mass beyond it; the two bounds' masses and
    the density over (-1, 1) add up to one per dim."""
    torch.manual_seed(0)
    mean, log_std = torch.randn(6, 1) * 0.8, torch.randn(6, 1) * 0.3
    normal = D.Normal(mean, log_std.exp())
    inside = torch.rand(6, 1) * 1.8 - 0.9
    assert torch.allclose(
        clipped_gaussian_log_prob(mean, log_std, inside), normal.log_prob(inside).sum(-1), atol=1e-5
    )
    ones = torch.ones(6, 1)
    upper = clipped_gaussian_log_prob(mean, log_std, ones).exp()
    lower = clipped_gaussian_log_prob(mean, log_std, -ones).exp()
    assert torch.allclose(upper, (1 - normal.cdf(ones)).squeeze(-1), atol=1e-5)
    assert torch.allclose(lower, normal.cdf(-ones).squeeze(-1), atol=1e-5)
    grid = torch.linspace(-1, 1, 20001)[1:-1]  # [G], open interval
    dens = clipped_gaussian_log_prob(mean[:, None], log_std[:, None], grid[None, :, None])  # [6, G]
    total = upper + lower + dens.exp().mean(-1) * 2.0  # [6]
    assert torch.allclose(total, torch.ones(6), atol=1e-3)


def test_clipped_gaussian_log_prob_gradient_saturates_past_the_bound() -> None:
    """A sample clipped at +1 raises its log-prob by moving the mean up, ever less once the mean
    is past the bound; the density at the bound would instead pull the mean back onto the bound
    (gradient (1 - mean) / std^2 = -2 at mean 3)."""
    grads = []
    for m in (0.0, 1.0, 3.0):
        mean = torch.tensor([[m]], requires_grad=True)
        clipped_gaussian_log_prob(mean, torch.zeros(1, 1), torch.ones(1, 1)).sum().backward()
        assert mean.grad is not None
        grads.append(float(mean.grad))
    assert grads[0] > grads[1] > grads[2] > 0.0
    assert grads[2] < 0.1
