"""World model: encoders/decoders per observation kind, loss terms, KL balancing and free nats,
observe/imagine shapes, config round trip, video prediction."""

from __future__ import annotations

import pytest
import torch

from worldmodels.envs.spaces import ActSpec, ArraySpec
from worldmodels.models.build import build_world_model, load_world_model, save_world_model
from worldmodels.models.heads import Decoder, DistHead, Encoder, PolicyHead
from worldmodels.models.world_model import WorldModel, shift_actions

TINY = dict(units=16, layers=1, cnn_depth=4, deter=16, stoch=4, classes=3, hidden=16)
B, T = 2, 6


def specs(image: int | None = 16, vector: int | None = 3):
    obs = {}
    if image:
        obs["image"] = ArraySpec((image, image, 3), "uint8")
    if vector:
        obs["vector"] = ArraySpec((vector,), "float32")
    return obs


def fake_batch(obs_spec, act_dim=2, b=B, t=T):
    g = torch.Generator().manual_seed(0)
    batch = {
        "action": torch.rand(b, t, act_dim, generator=g) * 2 - 1,
        "reward": torch.randn(b, t, generator=g),
        "is_first": torch.zeros(b, t, dtype=torch.bool),
        "is_last": torch.zeros(b, t, dtype=torch.bool),
        "is_terminal": torch.zeros(b, t, dtype=torch.bool),
    }
    batch["is_first"][:, 0] = True
    batch["is_terminal"][:, -1] = True
    for k, s in obs_spec.items():
        if s.dtype == "uint8":
            batch[k] = torch.randint(0, 256, (b, t, *s.shape), dtype=torch.uint8, generator=g)
        else:
            batch[k] = torch.randn(b, t, *s.shape, generator=g)
    return batch


def make(obs_spec=None, **kw) -> WorldModel:
    torch.manual_seed(0)
    return WorldModel(
        specs() if obs_spec is None else obs_spec, ActSpec(2, False), **{**TINY, **kw}
    )


@pytest.mark.parametrize("size", [16, 32, 64])
def test_encoder_decoder_image_sizes(size):
    spec = specs(size, None)
    enc = Encoder(spec, 16, 1, 4)
    x = torch.randint(0, 256, (2, 3, size, size, 3), dtype=torch.uint8)
    e = enc({"image": x})
    assert e.shape == (2, 3, enc.out_dim)
    dec = Decoder(10, spec, 16, 1, 4)
    out = dec(torch.randn(2, 3, 10))
    assert out["image"].mean.shape == (2, 3, 3, size, size)


def test_encoder_vector_only_and_both():
    enc = Encoder(specs(None, 5), 16, 2, 4)
    assert enc({"vector": torch.randn(4, 5)}).shape == (4, 16)
    both = Encoder(specs(16, 5), 16, 2, 4)
    e = both({"image": torch.zeros(4, 16, 16, 3, dtype=torch.uint8), "vector": torch.randn(4, 5)})
    assert e.shape == (4, both.out_dim) and both.out_dim == 16 + 4 * 2 * 16
    with pytest.raises(ValueError, match="valid: image, vector"):
        Encoder({"depth": ArraySpec((3,), "float32")}, 16, 1, 4)


def test_heads_shapes_and_bad_kinds():
    feat = torch.randn(5, 7, 10)
    assert DistHead(10, "twohot", 16, 1).forward(feat).mean.shape == (5, 7)
    assert DistHead(10, "mse", 16, 1).forward(feat).mean.shape == (5, 7)
    assert DistHead(10, "bernoulli", 16, 1).forward(feat).mean.shape == (5, 7)
    zero = DistHead(10, "twohot", 16, 1, zero_init=True)(feat)
    assert torch.allclose(zero.mean, torch.zeros(5, 7), atol=1e-6)
    with pytest.raises(ValueError, match="valid: twohot, mse, bernoulli"):
        DistHead(10, "huber", 16, 1)
    cont = PolicyHead(10, ActSpec(3, False), 16, 1)(feat)
    assert cont.sample().shape == (5, 7, 3) and cont.log_prob(cont.sample()).shape == (5, 7)
    disc = PolicyHead(10, ActSpec(4, True), 16, 1)(feat)
    assert disc.sample().shape == (5, 7, 4) and disc.entropy().shape == (5, 7)
    with pytest.raises(ValueError, match="does not fit"):
        PolicyHead(10, ActSpec(4, False), 16, 1, dist="onehot")
    # a continuous distribution name leaves discrete actions one-hot (policy_dist_disc/cont)
    assert PolicyHead(10, ActSpec(4, True), 16, 1, dist="tanh_normal").dist == "onehot"


@pytest.mark.parametrize(
    "obs_spec,terms",
    [
        (specs(16, 3), {"image", "vector", "reward", "cont", "dyn", "rep"}),
        (specs(16, None), {"image", "reward", "cont", "dyn", "rep"}),
        (specs(None, 3), {"vector", "reward", "cont", "dyn", "rep"}),
    ],
)
def test_loss_terms_are_named_bt_tensors(obs_spec, terms):
    wm = make(obs_spec)
    loss_terms, post = wm.loss(fake_batch(obs_spec))
    assert set(loss_terms) == terms
    for v in loss_terms.values():
        assert v.shape == (B, T) and torch.isfinite(v).all()
    assert post["deter"].shape == (B, T, 16)
    total = wm.total_loss(loss_terms)
    assert total.dim() == 0
    total.backward()
    grads = [p.grad for p in wm.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_loss_scales_must_match_and_options_are_checked():
    with pytest.raises(ValueError, match="must be exactly"):
        make(loss_scales={"image": 1.0, "reward": 1.0})
    with pytest.raises(ValueError, match="valid: twohot, mse"):
        make(reward_head="huber")


def test_loss_scales_weight_the_terms():
    wm = make()
    terms, _ = wm.loss(fake_batch(specs()))
    expected = sum(wm.loss_scales[k] * v.mean() for k, v in terms.items())
    assert torch.allclose(wm.total_loss(terms), expected)
    wm.loss_scales["reward"] = 0.0
    assert torch.allclose(wm.total_loss(terms), expected - terms["reward"].mean())


def _grad_norm(loss: torch.Tensor, module: torch.nn.Module) -> float:
    grads = torch.autograd.grad(
        loss, list(module.parameters()), retain_graph=True, allow_unused=True
    )
    return sum(float(g.abs().sum()) for g in grads if g is not None)


@pytest.mark.parametrize("balance", [True, False])
def test_kl_balancing_routes_gradients(balance):
    wm = make(kl_balance=balance, free_nats=0.0)
    # one step: the prior then depends on no earlier posterior sample, so any posterior-head
    # gradient of `dyn` can only come through the KL itself
    terms, _ = wm.loss(fake_batch(specs(), t=1))
    dyn, rep = terms["dyn"].sum(), terms["rep"].sum()
    prior_head, post_head = wm.rssm.img_out, wm.rssm.obs_out
    # dyn always trains the prior; rep always trains the posterior
    assert _grad_norm(dyn, prior_head) > 0 and _grad_norm(rep, post_head) > 0
    # balanced: each term is blind to the other side; unbalanced: both see both
    assert (_grad_norm(dyn, post_head) > 0) == (not balance)
    assert (_grad_norm(rep, prior_head) > 0) == (not balance)
    # same forward value either way
    assert torch.allclose(terms["dyn"], terms["rep"], atol=1e-5)


def test_free_nats_clip_the_kl_from_below():
    batch = fake_batch(specs())
    raw = make(free_nats=0.0)
    terms0, post = raw.loss(batch)
    _, prior_stat = raw.rssm.observe(
        raw.initial(B),
        raw.encoder({k: batch[k] for k in ("image", "vector")}),
        shift_actions(batch["action"], batch["is_first"]),
        batch["is_first"],
    )
    assert (terms0["dyn"] < 1.0).any(), "need some KLs below one free nat for this test"
    free = make(free_nats=1.0)
    terms1, _ = free.loss(batch)
    assert torch.allclose(terms1["dyn"], terms0["dyn"].clamp(min=1.0), atol=1e-5)
    assert (terms1["dyn"] >= 1.0).all()
    # where clipped, no gradient reaches the model through the KL
    big = make(free_nats=1e6)
    terms_big, _ = big.loss(batch)
    assert torch.all(terms_big["dyn"] == 1e6)
    assert _grad_norm(terms_big["dyn"].sum() + terms_big["rep"].sum(), big.rssm) == 0


def test_shift_actions_uses_previous_action_and_masks_starts():
    action = torch.arange(1.0, 7.0).reshape(1, 6, 1)
    first = torch.tensor([[True, False, False, True, False, False]])
    prev = shift_actions(action, first)
    assert prev.flatten().tolist() == [0.0, 1.0, 2.0, 0.0, 4.0, 5.0]


def test_observe_single_steps_equal_the_sequence():
    obs_spec = specs()
    wm = make(obs_spec, latent="deterministic")
    batch = fake_batch(obs_spec)
    prev = shift_actions(batch["action"], batch["is_first"])
    obs = {k: batch[k] for k in obs_spec}
    post, feat = wm.observe(None, obs, prev, batch["is_first"])
    assert feat.shape == (B, T, wm.feat_dim)
    state = wm.initial(B)
    for t in range(T):
        state, f = wm.observe(
            state, {k: v[:, t] for k, v in obs.items()}, prev[:, t], batch["is_first"][:, t]
        )
        assert f.shape == (B, wm.feat_dim)
        assert torch.allclose(f, feat[:, t], atol=1e-5)


def test_imagine_shapes_and_action_checks():
    wm = make()
    batch = fake_batch(specs())
    _, post = wm.loss(batch)
    roll = wm.imagine(post, lambda f: torch.tanh(f[:, :2]), 4)  # start [B, T] -> N = B*T
    n = B * T
    assert roll.feat.shape == (5, n, wm.feat_dim)
    assert roll.action.shape == (4, n, 2)
    assert roll.reward.shape == roll.cont.shape == (4, n)
    assert ((roll.cont >= 0) & (roll.cont <= 1)).all()
    roll2 = wm.imagine(post, torch.zeros(4, n, 2), 4)
    assert roll2.feat.shape == (5, n, wm.feat_dim)
    with pytest.raises(ValueError, match="actions must be"):
        wm.imagine(post, torch.zeros(3, n, 2), 4)


def test_world_model_file_round_trip_rebuilds_the_same_model(tmp_path):
    """world_model.pt records the class and its options: load_world_model rebuilds the model
    without the run's config."""
    wm = make(latent="gaussian", decoder=False)
    cfg = wm.config()
    assert cfg["latent"] == "gaussian" and "obs_spec" not in cfg
    save_world_model(tmp_path / "world_model.pt", wm)
    clone = load_world_model(tmp_path)
    assert type(clone) is WorldModel and clone.obs_spec == wm.obs_spec
    batch = fake_batch(specs())
    torch.manual_seed(3)
    a, _ = wm.loss(batch)
    torch.manual_seed(3)
    b, _ = clone.loss(batch)
    assert all(torch.allclose(a[k], b[k]) for k in a)


def test_world_model_file_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_world_model(tmp_path)
    # a file from before world models recorded their class: a clear error, not a wrong model
    wm = make()
    torch.save({"state_dict": wm.state_dict(), "config": {}}, tmp_path / "world_model.pt")
    with pytest.raises(ValueError, match="older version"):
        load_world_model(tmp_path)


def test_build_world_model_checks_target_and_options():
    obs, act = specs(), ActSpec(2, False)
    rssm = "worldmodels.models.world_model.WorldModel"
    assert isinstance(build_world_model({"_target_": rssm, **TINY}, obs, act), WorldModel)
    with pytest.raises(ValueError, match=r"unknown world model options \['detr'\].*deter"):
        build_world_model({"_target_": rssm, "detr": 4}, obs, act)
    with pytest.raises(ValueError, match="not a world model"):
        build_world_model({"_target_": "torch.nn.Linear"}, obs, act)
    with pytest.raises(ValueError, match="_target_ must name"):
        build_world_model({"deter": 4}, obs, act)


def test_train_step_metrics_and_parameter_change():
    wm = make()
    opt = wm.make_optimizer(1e-3)
    before = [p.detach().clone() for p in wm.parameters()]
    metrics, post = wm.train_step(fake_batch(specs()), opt)
    expected = {f"wm/loss/{k}" for k in ("image", "vector", "reward", "cont", "dyn", "rep")}
    expected |= {"wm/loss", "wm/kl", "wm/prior_entropy", "wm/post_entropy", "wm/grad_norm"}
    assert set(metrics) == expected
    assert all(v.dim() == 0 and torch.isfinite(v) for v in metrics.values())
    assert not post["deter"].requires_grad
    assert any(not torch.equal(a, p) for a, p in zip(before, wm.parameters()))


def test_video_prediction_shape_and_truth_panel():
    obs_spec = specs(16, None)
    wm = make(obs_spec)
    batch = fake_batch(obs_spec, t=8)
    video = wm.video_prediction(batch)
    assert video.dtype == torch.uint8 and video.shape == (8, 16, 48, 3)
    assert torch.equal(video[:, :, :16], batch["image"][0])
    with pytest.raises(ValueError, match="decoder"):
        make(obs_spec, decoder=False).video_prediction(batch)
