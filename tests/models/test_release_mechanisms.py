"""Known answers for the network pieces of the DreamerV3 releases, derived from the official
sources (github danijar/dreamerv3: current release e3f0224, 2023 release 8fa35f8): symexp two-hot
bins, RMSNorm, truncated-normal initialization with fans and output scales, block-diagonal layers
and the current release's block-GRU core."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from worldmodels.envs.spaces import ActSpec
from worldmodels.models.dists import TwoHot, symexp, symlog, twohot_bins
from worldmodels.models.heads import DistHead, PolicyHead
from worldmodels.models.init import fans, initialize
from worldmodels.models.nets import BlockLinear, make_norm
from worldmodels.models.rssm import RSSM, BlockCore


# ---- symexp two-hot (embodied/jax/heads.py lines 132-144, outs.py lines 273-330) ---------------
def _numpy_symexp_bins(n: int) -> np.ndarray:
    """The source's bins, transcribed: symexp(linspace(-20, 0, (n-1)/2 + 1)), mirrored."""
    half = np.linspace(-20, 0, (n - 1) // 2 + 1, dtype=np.float32)
    half = np.sign(half) * np.expm1(np.abs(half))
    return np.concatenate([half, -half[:-1][::-1]], 0)


def test_symexp_bins_match_the_source_and_are_symmetric_around_an_exact_zero():
    bins = twohot_bins(255, space="symexp")
    ref = _numpy_symexp_bins(255)
    assert bins.shape == (255,)
    np.testing.assert_allclose(bins.numpy(), ref, rtol=1e-6)
    assert bins[127].item() == 0.0
    assert torch.equal(bins, -bins.flip(0))
    assert bins[0].item() == pytest.approx(-math.expm1(20.0), rel=1e-6)  # -4.85e8
    # the first bins around 0: symexp(+-20/127)
    assert bins[128].item() == pytest.approx(math.expm1(20 / 127), rel=1e-5)
    # symlog bins are the 2023 release's: linear in symlog space
    assert torch.allclose(twohot_bins(255), torch.linspace(-20, 20, 255))


def test_symexp_twohot_encodes_raw_values_and_decodes_them_back():
    bins = twohot_bins(255, space="symexp")
    # on a bin edge all the mass is on that bin
    for i in (0, 100, 127, 128, 200, 254):
        target = bins[i : i + 1]
        logits = torch.full((1, 255), -1e4)
        logits[0, i] = 0.0
        dist = TwoHot(logits, bins, "symexp")
        assert dist.mean.item() == pytest.approx(target.item(), rel=1e-6, abs=1e-6)
        # log_prob of the bin value against a one-hot prediction is ~0 (all mass there)
        assert dist.log_prob(target).item() == pytest.approx(0.0, abs=1e-3)
    # between two bins the encoding is linear in raw space (not in symlog space)
    lo, hi = bins[130].item(), bins[131].item()
    x = lo + 0.25 * (hi - lo)
    from worldmodels.models.dists import twohot_encode

    w = twohot_encode(torch.tensor([x]), bins)[0]
    assert w[130].item() == pytest.approx(0.75, abs=1e-5)
    assert w[131].item() == pytest.approx(0.25, abs=1e-5)
    assert (w.sum() - 1).abs().item() < 1e-6
    # the symlog head puts the same raw value at a different split (the spaces differ)
    w_log = twohot_encode(symlog(torch.tensor([x])), twohot_bins(255))[0]
    assert w_log.max().item() != pytest.approx(0.75, abs=1e-3)


def test_uniform_probabilities_predict_exactly_zero_with_symexp_bins():
    """The source sums from both ends toward the centre so zero logits predict exactly 0."""
    bins = twohot_bins(255, space="symexp")
    dist = TwoHot(torch.zeros(4, 255), bins, "symexp")
    assert torch.equal(dist.mean, torch.zeros(4))
    # an output layer with outscale 0 (reward, value) predicts exactly 0 at the start
    head = DistHead(8, "twohot", 16, 1, bins_space="symexp", zero_init=True, norm="rms")
    initialize(head, "trunc_normal_in")
    assert torch.equal(head(torch.randn(5, 8)).mean, torch.zeros(5))


def test_mirrored_logits_predict_exactly_zero_with_symexp_bins():
    """Logits mirrored around the centre bin (what an outscale-0 head keeps for every bin that no
    target reaches: equal gradients, equal updates) predict exactly 0: each pair p_i b_i and
    p_j (-b_i) cancels before the sum, as the source's `TwoHot.pred` intends (outs.py 285-309).
    A left-to-right sum would leave float32 rounding of the +-4.85e8 end bins, std about 0.5 here.
    (The official JAX code, jit-compiled on CPU, fuses each pair into an FMA and keeps one product's
    rounding error: -0.166 at uniform logits, std 0.083 over mirrored ones. That noise, not a
    difference in the math, is why its actor entropy stays flat early on; see the side-by-side
    section of benchmarks/RESULTS.md.)"""
    bins = twohot_bins(255, space="symexp")
    half = torch.randn(1000, 128, generator=torch.Generator().manual_seed(0)) * 1e-4
    logits = torch.cat([half, half[:, :-1].flip(-1)], -1)  # logit_i == logit_{254-i}
    assert torch.equal(TwoHot(logits, bins, "symexp").mean, torch.zeros(1000))
    naive = (torch.softmax(logits, -1) * bins).sum(-1)
    assert naive.std().item() > 0.05  # the rounding this order of summation avoids


# ---- RMSNorm (embodied/jax/nets.py Norm, lines 361-409) --------------------------------------
def test_rms_norm_is_x_times_rsqrt_mean_square_plus_1e4_times_scale():
    norm = make_norm("rms", 6)
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 7.0))
    x = torch.randn(3, 6) * 5 + 2
    ref = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-4) * torch.arange(1.0, 7.0)
    torch.testing.assert_close(norm(x), ref, rtol=1e-6, atol=1e-6)
    assert not any(n == "bias" for n, _ in norm.named_parameters())  # no shift
    # LayerNorm (2023) and none (V1/V2)
    assert isinstance(make_norm("layer", 6), nn.LayerNorm)
    assert isinstance(make_norm("none", 6), nn.Identity)
    with pytest.raises(ValueError, match="valid: layer, rms, none"):
        make_norm("batch", 6)


# ---- initialization (embodied/jax/nets.py Initializer, lines 144-197) -------------------------
@pytest.mark.parametrize(
    "layer, fan_in, fan_out",
    [
        (nn.Linear(300, 200), 300, 200),
        (nn.Conv2d(16, 32, 5), 16 * 25, 32 * 25),
        (BlockLinear(512, 768, 8), 512, 768),  # the source's fans: whole input, not 512 / 8
    ],
)
def test_fans_follow_the_source(layer, fan_in, fan_out):
    assert fans(layer) == (fan_in, fan_out)


@pytest.mark.parametrize("scheme, fan", [("trunc_normal_in", "in"), ("trunc_normal_avg", "avg")])
@pytest.mark.parametrize("shape", [(400, 300), (200, 1000)])
def test_truncated_normal_std_is_within_5_percent_of_sqrt_one_over_fan(scheme, fan, shape):
    torch.manual_seed(0)
    layer = nn.Linear(*shape)
    initialize(layer, scheme)
    fan_in, fan_out = shape
    expected = math.sqrt(1 / (fan_in if fan == "in" else (fan_in + fan_out) / 2))
    w = layer.weight.detach()
    assert abs(w.std().item() / expected - 1) < 0.05
    # truncated at two standard deviations of the underlying normal (1.1368 * 2 * expected)
    assert w.abs().max().item() <= 2 * 1.1368 * expected + 1e-6
    assert torch.equal(layer.bias.detach(), torch.zeros(shape[1]))


def test_block_linear_init_uses_the_whole_input_as_fan_in():
    torch.manual_seed(0)
    layer = BlockLinear(1024, 1024, 8)
    initialize(layer, "trunc_normal_in")
    assert abs(layer.weight.std().item() / math.sqrt(1 / 1024) - 1) < 0.05


def test_output_scales_are_applied_after_the_scheme():
    torch.manual_seed(0)
    policy = PolicyHead(32, ActSpec(4, False), 64, 2, outscale=0.01, norm="rms")
    ref = PolicyHead(32, ActSpec(4, False), 64, 2, norm="rms")
    initialize(policy, "trunc_normal_in")
    initialize(ref, "trunc_normal_in")
    out, ref_out = policy.mean.weight.std().item(), ref.mean.weight.std().item()
    assert out == pytest.approx(0.01 * math.sqrt(1 / 64), rel=0.15)
    assert ref_out == pytest.approx(math.sqrt(1 / 64), rel=0.15)
    # hidden layers are untouched by the output scale
    assert policy.net[0].weight.std().item() == pytest.approx(math.sqrt(1 / 32), rel=0.1)


def test_unknown_scheme_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid: torch, trunc_normal_in, trunc_normal_avg"):
        initialize(nn.Linear(2, 2), "he")


# ---- block-diagonal layers and the current release's core (dreamerv3/rssm.py 135-159) ---------
def test_block_linear_is_block_diagonal():
    layer = BlockLinear(6, 4, 2)
    x = torch.randn(5, 6)
    w = layer.weight.detach()  # [G, I/G, O/G]
    dense = torch.block_diag(w[0], w[1])  # [6, 4]
    torch.testing.assert_close(layer(x), x @ dense + layer.bias)


def _numpy_block_core(core: BlockCore, deter, stoch, action) -> np.ndarray:
    """The source's _core, transcribed with numpy on the module's own weights."""

    def dense(seq, x):
        lin, norm = seq[0], seq[1]
        y = x @ lin.weight.detach().numpy().T + lin.bias.detach().numpy()
        y = y / np.sqrt((y * y).mean(-1, keepdims=True) + 1e-4) * norm.weight.detach().numpy()
        return y / (1 + np.exp(-y))  # silu

    def block(layer, x):
        g = layer.blocks
        xb = x.reshape(x.shape[0], g, -1)
        y = np.einsum("bgi,gio->bgo", xb, layer.weight.detach().numpy())
        return y.reshape(x.shape[0], -1) + layer.bias.detach().numpy()

    g, d = core.blocks, core.deter
    x = np.concatenate(
        [dense(core.dynin0, deter), dense(core.dynin1, stoch), dense(core.dynin2, action)], -1
    )
    x = np.repeat(x[:, None], g, 1)  # [B, G, 3h]
    x = np.concatenate([deter.reshape(len(deter), g, -1), x], -1).reshape(len(deter), -1)
    hid, norm = core.hidden_layers[0], core.hidden_layers[1]
    x = block(hid, x)
    x = x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-4) * norm.weight.detach().numpy()
    x = x / (1 + np.exp(-x))
    x = block(core.gates, x).reshape(len(deter), g, 3 * d // g)
    reset, cand, update = (
        x[:, :, i * d // g : (i + 1) * d // g].reshape(len(deter), d) for i in range(3)
    )
    reset = 1 / (1 + np.exp(-reset))
    cand = np.tanh(reset * cand)
    update = 1 / (1 + np.exp(-(update - 1)))
    return update * cand + (1 - update) * deter


def test_block_core_matches_a_numpy_transcription_of_the_source():
    torch.manual_seed(0)
    core = BlockCore(stoch_dim=12, act_dim=3, deter=16, hidden=8, blocks=4, layers=1)
    initialize(core, "trunc_normal_in")
    with torch.no_grad():  # non-trivial norm scales and biases
        for p in core.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    deter, stoch, action = torch.randn(5, 16), torch.randn(5, 12), torch.randn(5, 3)
    ours = core(deter, stoch, action).detach().numpy()
    ref = _numpy_block_core(core, deter.numpy(), stoch.numpy(), action.numpy())
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_rssm_with_block_core_has_the_source_layer_counts_and_a_zero_initial_state():
    rssm = RSSM(
        20,
        3,
        deter=32,
        stoch=4,
        classes=4,
        hidden=8,
        core="block",
        gru_blocks=8,
        norm="rms",
        img_layers=2,
        obs_layers=1,
        dyn_layers=1,
        learned_initial=False,
    )
    assert isinstance(rssm.core, BlockCore)
    assert sum(isinstance(m, nn.Linear) for m in rssm.img_out.modules()) == 3  # 2 prior + logit
    init = rssm.initial(3)
    assert torch.equal(init["deter"], torch.zeros(3, 32))
    assert torch.equal(init["stoch"], torch.zeros(3, 16))
    state, _ = rssm.observe(
        init, torch.randn(3, 5, 20), torch.randn(3, 5, 3), torch.zeros(3, 5, dtype=torch.bool)
    )
    assert state["deter"].shape == (3, 5, 32)
    # no learned initial vector takes gradients
    assert not rssm.init_deter.requires_grad


def test_symexp_is_the_inverse_of_symlog():
    x = torch.tensor([-1e6, -3.0, 0.0, 0.5, 1e6])
    torch.testing.assert_close(symexp(symlog(x)), x, rtol=1e-5, atol=1e-6)
