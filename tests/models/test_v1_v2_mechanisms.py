"""Known answers for DreamerV1's and DreamerV2's own pieces (github danijar/dreamer, danijar/
dreamerv2): the truncated-normal actor, the 64x64 "valid" CNNs, free nats on the batch mean, the
decoupled weight decay, exploration noise, the standard GRU core with Keras' init."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from tests.flat_options import dreamer_agent
from worldmodels.envs.spaces import ActSpec, ArraySpec
from worldmodels.models.dists import TruncNormal
from worldmodels.models.init import initialize
from worldmodels.models.rssm import RSSM
from worldmodels.models.valid_conv import ValidConvDecoder, ValidConvEncoder
from worldmodels.models.world_model import WorldModel


# ---- V2's truncated normal (common/nets.py DistLayer "trunc_normal", common/dists.py) ----------
def _raw(mean: float, std_raw: float) -> torch.Tensor:
    return torch.tensor([[mean, std_raw]])


def test_trunc_normal_parameters_follow_the_source():
    dist = TruncNormal(_raw(0.3, 0.0))
    assert dist.loc.item() == pytest.approx(math.tanh(0.3))
    assert dist.std.item() == pytest.approx(2 * 0.5 + 0.1)  # 2 * sigmoid(0 / 2) + min_std


@pytest.mark.parametrize("mean, std_raw", [(0.0, 0.0), (0.9, -3.0), (-0.5, 2.0)])
def test_trunc_normal_density_integrates_to_one_and_entropy_is_exact(mean, std_raw):
    dist = TruncNormal(_raw(mean, std_raw))
    xs = torch.linspace(-1, 1, 20001)[:, None]
    pdf = dist.log_prob(xs.expand(-1, 1)).exp().squeeze()  # broadcast over x
    assert torch.trapezoid(pdf, xs.squeeze()).item() == pytest.approx(1.0, abs=1e-3)
    ent = -torch.trapezoid(pdf * pdf.clamp(min=1e-30).log(), xs.squeeze()).item()
    assert dist.entropy().item() == pytest.approx(ent, abs=2e-3)


def test_trunc_normal_samples_stay_inside_and_carry_gradients():
    torch.manual_seed(0)
    raw = torch.tensor([[0.8, -1.0]]).repeat(20000, 1).requires_grad_(True)
    dist = TruncNormal(raw)
    x = dist.rsample()
    assert x.min() >= -1 + 1e-6 and x.max() <= 1 - 1e-6
    x.mean().backward()
    assert raw.grad is not None and raw.grad[:, 0].abs().sum() > 0
    # the sample mean matches the truncated normal's mean (scipy-free closed form)
    a, b = dist.alpha[0, 0].item(), dist.beta[0, 0].item()
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    z = dist.mass[0, 0].item()
    mean = dist.loc[0, 0].item() + dist.std[0, 0].item() * (phi(a) - phi(b)) / z
    assert x.mean().item() == pytest.approx(mean, abs=0.01)


# ---- the 64x64 "valid" CNNs (dreamer/models.py lines 84-117; dreamerv2 nets.py 216-277) --------
def test_valid_cnn_shapes_are_the_sources():
    enc = ValidConvEncoder((64, 64, 3), depth=32)
    assert [m.kernel_size for m in enc.net if isinstance(m, nn.Conv2d)] == [(4, 4)] * 4
    assert enc(torch.zeros(2, 64, 64, 3, dtype=torch.uint8)).shape == (2, 32 * 32)  # 2x2x256
    dec = ValidConvDecoder(230, (64, 64, 3), depth=48)
    kernels = [m.kernel_size[0] for m in dec.net if isinstance(m, nn.ConvTranspose2d)]
    assert kernels == [5, 5, 6, 6] and dec.linear.out_features == 32 * 48
    assert dec(torch.zeros(4, 230)).shape == (4, 3, 64, 64)
    with pytest.raises(ValueError, match="64x64"):
        ValidConvEncoder((32, 32, 3))


# ---- free nats on the batch mean (V1 dreamer.py lines 174-175; V2 kl free_avg) ---------------
def test_batch_free_nats_bound_the_mean_kl_not_each_step():
    obs = {"vector": ArraySpec((3,), "float32")}
    kw = dict(units=8, layers=1, deter=8, stoch=4, classes=4, hidden=8, free_nats=1.0)
    step = WorldModel(obs, ActSpec(2, False), **kw)
    batch = WorldModel(obs, ActSpec(2, False), **kw, free_nats_mode="batch")
    kl = torch.tensor([[0.2, 3.0], [0.1, 0.5]])
    assert step._free(kl).mean().item() == pytest.approx((1 + 3 + 1 + 1) / 4)
    assert batch._free(kl).mean().item() == pytest.approx(max(1.0, kl.mean().item()))  # 1.0
    big = kl * 10
    assert batch._free(big).mean().item() == pytest.approx(big.mean().item())


# ---- V2's decoupled weight decay (common/tfutils.py _apply_weight_decay) ---------------------
def test_weight_decay_multiplies_parameters_by_one_minus_decay_before_the_step():
    obs = {"vector": ArraySpec((3,), "float32")}
    torch.manual_seed(0)
    agent = dreamer_agent(
        obs, ActSpec(2, False), "cpu", units=8, layers=1, deter=8, stoch=4, classes=4,
        hidden=8, weight_decay=0.1, critic_lr=1e-3,
    )  # fmt: skip
    p = next(agent.critic.parameters())
    before = p.detach().clone()
    p.grad = torch.zeros_like(p)  # no gradient: only the decay moves the weights
    agent.critic_opt.step()
    torch.testing.assert_close(p.detach(), before * 0.9)


# ---- V1's exploration noise (dreamer.py `_exploration`, lines 246-259) -----------------------
def test_explore_noise_is_additive_gaussian_clipped_and_off_in_eval():
    obs = {"vector": ArraySpec((3,), "float32")}
    torch.manual_seed(0)
    kw = dict(units=8, layers=1, deter=8, stoch=4, classes=4, hidden=8)
    quiet = dreamer_agent(obs, ActSpec(2, False), "cpu", **kw)
    torch.manual_seed(0)
    noisy = dreamer_agent(obs, ActSpec(2, False), "cpu", **kw, explore_noise=0.3)
    o = {"vector": torch.zeros(20000, 3), "is_first": torch.ones(20000, dtype=torch.bool)}
    torch.manual_seed(1)
    a, _ = quiet.act(o, None, "explore")
    torch.manual_seed(1)
    b, _ = noisy.act(o, None, "explore")
    assert b.abs().max() <= 1.0
    diff = (b - a)[(a.abs() < 0.2).all(-1)]  # away from the clip
    assert diff.std().item() == pytest.approx(0.3, rel=0.1)
    e1, _ = noisy.act(o, None, "eval")
    e2, _ = quiet.act(o, None, "eval")
    torch.testing.assert_close(e1, e2)


# ---- V1's standard GRU (dreamer/models.py line 18: tfkl.GRUCell) ------------------------------
def test_classic_core_is_a_standard_gru_cell_with_keras_init():
    torch.manual_seed(0)
    rssm = RSSM(10, 2, deter=30, stoch=5, hidden=20, latent="gaussian", core="classic",
                norm="none", act="elu", learned_initial=False)  # fmt: skip
    assert isinstance(rssm.core, nn.GRUCell)
    initialize(rssm, "xavier_uniform")
    w = rssm.core.weight_hh.detach().numpy()  # [3H, H]
    np.testing.assert_allclose(w.T @ w, np.eye(30), atol=1e-5)  # orthogonal recurrent kernel
    limit = math.sqrt(6 / (20 + 90))
    assert rssm.core.weight_ih.abs().max().item() <= limit
    assert torch.equal(rssm.core.bias_ih, torch.zeros(90))
    h = torch.randn(3, 30)
    x = torch.randn(3, 5)
    a = torch.randn(3, 2).clamp(-1, 1)
    ref = rssm.core(rssm.img_in(torch.cat([x, a], -1)), h)
    torch.testing.assert_close(rssm._transition(h, x, a), ref)
