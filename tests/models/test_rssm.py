"""RSSM shapes, latent kinds, episode resets and the block GRU."""

from __future__ import annotations

import pytest
import torch

from worldmodels.models.rssm import RSSM, GRUCell

B, T, E, A = 3, 5, 12, 2


def make(latent: str = "categorical", **kw) -> RSSM:
    torch.manual_seed(0)
    return RSSM(E, A, deter=16, stoch=4, classes=3, hidden=8, latent=latent, **kw)


def observe(rssm: RSSM, is_first: torch.Tensor | None = None):
    torch.manual_seed(1)
    embed, act = torch.randn(B, T, E), torch.randn(B, T, A)
    first = torch.zeros(B, T, dtype=torch.bool) if is_first is None else is_first
    return rssm.observe(rssm.initial(B), embed, act, first), embed, act


@pytest.mark.parametrize(
    "latent,stoch_dim,stat_dim",
    [("categorical", 12, 12), ("gaussian", 4, 8), ("deterministic", 4, 4)],
)
def test_shapes_per_latent_kind(latent, stoch_dim, stat_dim):
    rssm = make(latent)
    assert rssm.stoch_dim == stoch_dim and rssm.feat_dim == 16 + stoch_dim
    init = rssm.initial(B)
    assert init["deter"].shape == (B, 16) and init["stoch"].shape == (B, stoch_dim)
    (post, prior_stat), _, _ = observe(rssm)
    assert post["deter"].shape == (B, T, 16)
    assert post["stoch"].shape == (B, T, stoch_dim)
    assert post["stat"].shape == prior_stat.shape == (B, T, stat_dim)
    assert rssm.feat(post).shape == (B, T, 16 + stoch_dim)
    assert rssm.kl(post["stat"], prior_stat).shape == (B, T)
    assert rssm.entropy(prior_stat).shape == (B, T)
    start = {k: v[:, -1] for k, v in post.items()}
    states, actions = rssm.imagine(start, lambda f: torch.tanh(f[:, :A]), 4)
    assert states["deter"].shape == (5, B, 16) and actions.shape == (4, B, A)
    assert torch.equal(states["deter"][0], start["deter"])
    states2, actions2 = rssm.imagine(start, torch.zeros(4, B, A), 4)
    assert states2["stoch"].shape == (5, B, stoch_dim) and torch.equal(
        actions2, torch.zeros(4, B, A)
    )


def test_categorical_stoch_is_one_hot_per_group():
    rssm = make("categorical")
    (post, _), _, _ = observe(rssm)
    z = post["stoch"].detach().reshape(B, T, 4, 3)
    assert torch.allclose(z.sum(-1), torch.ones(B, T, 4), atol=1e-6)
    assert torch.allclose(z, (z > 0.5).float(), atol=1e-6)


def test_kl_zero_for_identical_and_positive_otherwise():
    for latent in ("categorical", "gaussian", "deterministic"):
        rssm = make(latent)
        (post, prior_stat), _, _ = observe(rssm)
        assert torch.allclose(rssm.kl(post["stat"], post["stat"]), torch.zeros(B, T), atol=1e-5)
        assert (rssm.kl(post["stat"], prior_stat) > 0).all()


def test_deterministic_kl_is_half_squared_distance():
    rssm = make("deterministic")
    a, b = torch.randn(2, 4), torch.randn(2, 4)
    assert torch.allclose(rssm.kl(a, b), 0.5 * ((a - b) ** 2).sum(-1), atol=1e-6)
    assert torch.equal(rssm.entropy(a), torch.zeros(2))


def test_is_first_resets_state_mid_sequence():
    """A reset at step 3 gives the same posterior as a fresh sequence starting at step 3."""
    rssm = make("deterministic")
    first = torch.zeros(B, T, dtype=torch.bool)
    first[:, 3] = True
    (post, _), embed, act = observe(rssm, first)
    fresh_first = torch.zeros(B, T - 3, dtype=torch.bool)
    fresh_first[:, 0] = True
    fresh_act = act[:, 3:].clone()
    fresh_act[:, 0] = 7.0  # the previous action is masked at an episode start
    fresh, _ = rssm.observe(rssm.initial(B), embed[:, 3:], fresh_act, fresh_first)
    assert torch.allclose(post["deter"][:, 3:], fresh["deter"], atol=1e-5)
    assert torch.allclose(post["stoch"][:, 3:], fresh["stoch"], atol=1e-5)
    # without the reset the history changes the result
    (post_nr, _), _, _ = observe(rssm)
    assert not torch.allclose(post_nr["deter"][:, 3], fresh["deter"][:, 0], atol=1e-3)


def test_deterministic_latent_has_no_noise_and_categorical_does():
    det = make("deterministic")
    (p1, _), _, _ = observe(det)
    (p2, _), _, _ = observe(det)
    torch.manual_seed(5)
    z1 = det.sample(p1["stat"])
    torch.manual_seed(6)
    z2 = det.sample(p1["stat"])
    assert torch.equal(p1["stoch"], p2["stoch"]) and torch.equal(z1, z2)
    cat = make("categorical")
    (q, _), _, _ = observe(cat)
    torch.manual_seed(5)
    y1 = cat.sample(q["stat"])
    torch.manual_seed(6)
    y2 = cat.sample(q["stat"])
    assert not torch.equal(y1, y2)


def test_stochastic_only_has_no_recurrent_path():
    rssm = make("categorical", recurrent=False)
    assert rssm.feat_dim == rssm.stoch_dim
    assert not any(isinstance(m, GRUCell) for m in rssm.modules())
    (post, _), _, _ = observe(rssm)
    assert rssm.feat(post).shape == (B, T, rssm.stoch_dim)
    assert any(isinstance(m, GRUCell) for m in make("categorical").modules())


def test_learned_initial_state_gets_gradients_only_when_learned():
    for learned in (True, False):
        rssm = make("gaussian", learned_initial=learned)
        (post, _), _, _ = observe(rssm)
        post["deter"].sum().backward()
        grad = rssm.init_deter.grad
        assert (grad is not None and grad.abs().sum() > 0) == learned


def test_block_gru_is_block_diagonal_in_h():
    torch.manual_seed(0)
    cell = GRUCell(6, 8, blocks=2)
    x = torch.randn(4, 6)
    h = torch.randn(4, 8, requires_grad=True)
    out = cell(x, h)
    assert out.shape == (4, 8)
    (g,) = torch.autograd.grad(out[:, :4].sum(), h)  # block 0 of the output
    assert g[:, 4:].abs().max() == 0 and g[:, :4].abs().max() > 0
    dense = GRUCell(6, 8)
    (g2,) = torch.autograd.grad(dense(x, h)[:, :4].sum(), h)
    assert g2[:, 4:].abs().max() > 0
    with pytest.raises(ValueError, match="divisible"):
        GRUCell(6, 10, blocks=3)


def test_unknown_latent_is_rejected():
    with pytest.raises(ValueError, match="valid: categorical, gaussian, deterministic"):
        make("beta")
