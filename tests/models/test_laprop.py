"""Known answers for LaProp (DreamerV3's optimizer): a numpy transcription of the official optax
chain, step by step on a fixed gradient sequence, must match the torch optimizer.

Transcribed from github danijar/dreamerv3 at e3f0224:
- `dreamerv3/agent.py:342-379` `_make_opt`: chain = clip_by_agc(agc), scale_by_rms(beta2, eps),
  scale_by_momentum(beta1, nesterov), optax.scale_by_learning_rate(join_schedules(
  [linear_schedule(0, lr, warmup), constant_schedule(lr)], [warmup])).
- `embodied/jax/opt.py:109-123` clip_by_agc, `:126-143` scale_by_rms, `:146-164` scale_by_momentum.
- optax: bias_correction(m, decay, t) = m / (1 - decay**t) with t the incremented count;
  update_moment(g, m, decay, 1) = (1 - decay) * g + decay * m; polynomial_schedule (power 1):
  (init - end) * (1 - clip(count, 0, steps) / steps) + end; scale_by_schedule evaluates the
  schedule at the count before incrementing; scale_by_learning_rate multiplies by -lr.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from worldmodels.models.laprop import LaProp, clip_by_agc

SHAPES = [(4, 3), (5,), (2, 3, 2)]
STEPS = 8


def _linear_schedule(count: int, init: float, end: float, steps: int) -> float:
    """optax.linear_schedule = polynomial_schedule(power=1)."""
    frac = 1 - min(max(count, 0), steps) / steps
    return (init - end) * frac + end


def _lr(count: int, lr: float, warmup: int) -> float:
    """agent.py:370-377: const schedule, joined after a linear ramp from 0 when warmup > 0."""
    if not warmup:
        return lr
    return _linear_schedule(count, 0.0, lr, warmup) if count < warmup else lr


def _agc(params, grads, clip, pmin):
    """opt.py:109-123 clip_by_agc: per tensor, u * 1 / max(1, ||u|| / (clip * max(pmin, ||p||)))."""
    if not clip:
        return grads
    out = []
    for p, u in zip(params, grads):
        unorm = np.linalg.norm(u.flatten(), 2)
        pnorm = np.linalg.norm(p.flatten(), 2)
        upper = clip * max(pmin, pnorm)
        out.append(u * (1 / max(1.0, unorm / upper)))
    return out


def _rms(updates, nu, t, beta, eps):
    """opt.py:126-143 scale_by_rms: nu update, bias correction, eps outside the sqrt."""
    nu = [beta * v + (1 - beta) * (u * u) for v, u in zip(nu, updates)]
    nu_hat = [v / (1 - beta**t) for v in nu]
    return [u / (np.sqrt(v) + eps) for u, v in zip(updates, nu_hat)], nu


def _momentum(updates, mu, t, beta, nesterov):
    """opt.py:146-164 scale_by_momentum."""
    mu = [(1 - beta) * u + beta * m for u, m in zip(updates, mu)]
    if nesterov:
        mu_n = [(1 - beta) * u + beta * m for u, m in zip(updates, mu)]
        return [m / (1 - beta**t) for m in mu_n], mu
    return [m / (1 - beta**t) for m in mu], mu


def reference_run(
    params0,
    grad_seq,
    lr=0.1,
    beta1=0.9,
    beta2=0.999,
    eps=1e-20,
    agc=0.3,
    pmin=1e-3,
    warmup=3,
    nesterov=False,
    swap=False,
):
    """Apply the official chain to `grad_seq`; returns the parameter list after every update.
    `swap=True` puts momentum before rms scaling (Adam's order), to show the test discriminates."""
    params = [p.copy() for p in params0]
    mu = [np.zeros_like(p) for p in params]
    nu = [np.zeros_like(p) for p in params]
    history = []
    for count, grads in enumerate(grad_seq):
        t = count + 1  # safe_int32_increment before use in the moment stages
        u = _agc(params, grads, agc, pmin)
        if swap:
            u, mu = _momentum(u, mu, t, beta1, nesterov)
            u, nu = _rms(u, nu, t, beta2, eps)
        else:
            u, nu = _rms(u, nu, t, beta2, eps)
            u, mu = _momentum(u, mu, t, beta1, nesterov)
        step_size = -1 * _lr(count, lr, warmup)  # evaluated at the count before incrementing
        params = [p + step_size * x for p, x in zip(params, u)]  # optax.apply_updates
        history.append([p.copy() for p in params])
    return history


def _problem(seed: int = 0):
    """Three tensors of different shapes. Tensor 0: small params, large grads (AGC binds);
    tensor 1: large params, small grads (AGC does not bind); tensor 2: zero params (pmin floor)."""
    rng = np.random.default_rng(seed)
    params = [
        0.05 * rng.standard_normal(SHAPES[0]),
        3.0 * rng.standard_normal(SHAPES[1]),
        np.zeros(SHAPES[2]),
    ]
    scales = (5.0, 0.01, 1.0)
    grads = [
        [s * rng.standard_normal(shape) for s, shape in zip(scales, SHAPES)] for _ in range(STEPS)
    ]
    return params, grads


def torch_run(params0, grad_seq, dtype=torch.float64, **kw):
    params = [torch.nn.Parameter(torch.tensor(p, dtype=dtype)) for p in params0]
    opt = LaProp(params, **kw)
    history = []
    for grads in grad_seq:
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return history, opt, params


def _deltas(params0, history):
    """Per-step updates (p_t - p_{t-1}), compared relatively (params themselves are O(1))."""
    prev = params0
    out = []
    for ps in history:
        out.append([p - q for p, q in zip(ps, prev)])
        prev = ps
    return out


def _assert_match(params0, ref, got, rtol):
    for k, (dr, dg) in enumerate(zip(_deltas(params0, ref), _deltas(params0, got))):
        for i, (a, b) in enumerate(zip(dr, dg)):
            np.testing.assert_allclose(b, a, rtol=rtol, atol=0, err_msg=f"step {k} tensor {i}")


@pytest.mark.parametrize("nesterov", [False, True])
def test_matches_numpy_transcription_of_the_optax_chain(nesterov):
    params0, grads = _problem()
    kw = dict(lr=0.1, warmup=3, nesterov=nesterov)
    ref = reference_run(params0, grads, **kw)
    got, _, _ = torch_run(params0, grads, **kw)
    # Step 0 has lr 0 (both zero): the comparison below covers steps 1-2 (warmup) and 3-7 (const).
    _assert_match(params0, ref, got, rtol=1e-6)


def test_float32_matches_too():
    params0, grads = _problem(1)
    ref = reference_run(params0, grads, lr=0.1, warmup=3)
    got, _, _ = torch_run(params0, grads, dtype=torch.float32, lr=0.1, warmup=3)
    for k, (dr, dg) in enumerate(zip(_deltas(params0, ref), _deltas(params0, got))):
        for a, b in zip(dr, dg):
            # float32 params: the delta carries the rounding of p (~1e-7 * |p|) as well.
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6, err_msg=f"step {k}")


def test_transcription_is_discriminating():
    """The reference itself must tell the official order apart from Adam's (momentum, then rms),
    from no AGC and from no warmup: otherwise matching it would prove little."""
    params0, grads = _problem()
    base = reference_run(params0, grads)
    for other in (
        reference_run(params0, grads, swap=True),
        reference_run(params0, grads, agc=0.0),
        reference_run(params0, grads, warmup=0),
        reference_run(params0, grads, eps=1e-8),
    ):
        diff = max(
            np.abs(a - b).max() / np.abs(b).max()
            for da, db in zip(_deltas(params0, other), _deltas(params0, base))
            for a, b in zip(da, db)
            if np.abs(b).max() > 0
        )
        assert diff > 1e-4  # 100x the match tolerance (eps 1e-8 is the closest, ~3e-4)
    # And the torch optimizer does not match the swapped order.
    got, _, _ = torch_run(params0, grads, lr=0.1, warmup=3)
    swapped = reference_run(params0, grads, swap=True)
    with pytest.raises(AssertionError):
        _assert_match(params0, swapped, got, rtol=1e-6)


def test_first_update_with_warmup_is_exactly_zero_then_ramps():
    params0, grads = _problem()
    got, opt, _ = torch_run(params0, grads[:1], lr=0.1, warmup=3)
    for p0, p1 in zip(params0, got[0]):
        assert np.array_equal(p0, p1)
    # The moments did advance on that update (as optax's do): the step counter is 1.
    assert opt.param_groups[0]["step"] == 1
    assert opt.scheduled_lr() == pytest.approx(0.1 / 3)
    assert LaProp.warmup_factor(0, 3) == 0.0
    assert LaProp.warmup_factor(2, 3) == pytest.approx(2 / 3)
    assert LaProp.warmup_factor(3, 3) == 1.0
    assert LaProp.warmup_factor(0, 0) == 1.0


def test_defaults_are_the_release_config():
    """dreamerv3/configs.yaml:87 opt: lr 4e-5, agc 0.3, eps 1e-20, beta1 0.9, beta2 0.999,
    warmup 1000; opt.py:109 pmin 1e-3."""
    opt = LaProp([torch.nn.Parameter(torch.zeros(2))])
    d = opt.defaults
    assert (d["lr"], d["agc"], d["eps"], d["beta1"], d["beta2"], d["warmup"], d["pmin"]) == (
        4e-5,
        0.3,
        1e-20,
        0.9,
        0.999,
        1000,
        1e-3,
    )
    assert d["nesterov"] is False


def test_agc_bounds_the_update_of_the_clipped_tensor():
    """Where AGC binds the clipped gradient has norm clip * ||p|| exactly (so <= it); where it does
    not, the gradient passes unchanged; a zero tensor is bounded by clip * pmin. Torch's stage
    equals the transcription's."""
    params0, grads = _problem()
    ref = _agc(params0, grads[0], 0.3, 1e-3)
    got = clip_by_agc(
        [torch.tensor(g) for g in grads[0]], [torch.tensor(p) for p in params0], 0.3, 1e-3
    )
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-12)
    n = [float(torch.linalg.vector_norm(g)) for g in got]
    assert np.linalg.norm(grads[0][0]) > 2 * 0.3 * np.linalg.norm(params0[0])  # binds
    assert n[0] <= 0.3 * np.linalg.norm(params0[0]) * (1 + 1e-12)
    assert n[0] == pytest.approx(0.3 * np.linalg.norm(params0[0]), rel=1e-12)
    assert np.linalg.norm(grads[0][1]) < 0.3 * np.linalg.norm(params0[1])  # does not bind
    assert np.array_equal(got[1].numpy(), grads[0][1])
    assert n[2] == pytest.approx(0.3 * 1e-3, rel=1e-12)  # zero params: the pmin floor

    # In the optimizer AGC changes the updates of the tensor where it binds (through the
    # second-moment history; a single step's uniform scale cancels in the normalization) and
    # leaves the others bit-identical.
    got_agc, _, _ = torch_run(params0, grads, lr=0.1, warmup=0)
    got_off, _, _ = torch_run(params0, grads, lr=0.1, warmup=0, agc=0.0)
    d_agc, d_off = _deltas(params0, got_agc), _deltas(params0, got_off)
    assert not np.allclose(d_agc[-1][0], d_off[-1][0], rtol=1e-3)  # tensor 0: AGC binds
    assert np.array_equal(d_agc[-1][1], d_off[-1][1])  # tensor 1: never binds


def test_state_dict_round_trip_resumes_exactly():
    params0, grads = _problem()
    full, _, _ = torch_run(params0, grads, lr=0.1, warmup=3)

    # Run 4 steps, save, rebuild from scratch, load, run the rest.
    params = [torch.nn.Parameter(torch.tensor(p)) for p in params0]
    opt = LaProp(params, lr=0.1, warmup=3)
    for grads_k in grads[:4]:
        for p, g in zip(params, grads_k):
            p.grad = torch.tensor(g)
        opt.step()
    saved = copy.deepcopy(opt.state_dict())
    saved_params = [p.detach().clone() for p in params]

    params2 = [torch.nn.Parameter(p.clone()) for p in saved_params]
    opt2 = LaProp(params2, lr=0.1, warmup=3)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["step"] == 4
    for grads_k, ref in zip(grads[4:], full[4:]):
        for p, g in zip(params2, grads_k):
            p.grad = torch.tensor(g)
        opt2.step()
        for p, r in zip(params2, ref):
            assert np.array_equal(p.detach().numpy(), r)


def test_skips_params_without_grad_and_leaves_grads_untouched():
    a = torch.nn.Parameter(torch.ones(3))
    b = torch.nn.Parameter(torch.ones(2))
    opt = LaProp([a, b], lr=0.1, warmup=0)
    g = torch.full((3,), 10.0)
    a.grad = g.clone()
    opt.step()
    assert torch.equal(a.grad, g)  # AGC and scaling work on a copy
    assert torch.equal(b.detach(), torch.ones(2)) and b not in opt.state
    assert not torch.equal(a.detach(), torch.ones(3))


def test_param_groups_have_their_own_hyperparameters():
    params0, grads = _problem()
    ps = [torch.nn.Parameter(torch.tensor(p)) for p in params0]
    opt = LaProp([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.0}], lr=0.1, warmup=0)
    for g_k in grads[:3]:
        for p, g in zip(ps, g_k):
            p.grad = torch.tensor(g)
        opt.step()
    assert np.array_equal(ps[2].detach().numpy(), params0[2])
    assert not np.array_equal(ps[0].detach().numpy(), params0[0])
    assert [g["step"] for g in opt.param_groups] == [3, 3]


def test_invalid_hyperparameters_raise():
    p = [torch.nn.Parameter(torch.zeros(2))]
    for kw in ({"lr": -1.0}, {"beta1": 1.0}, {"beta2": -0.1}, {"warmup": -1}, {"agc": -0.3}):
        with pytest.raises(ValueError, match="LaProp"):
            LaProp(p, **kw)


@pytest.mark.parametrize("nesterov", [False, True])
def test_capturable_path_matches_the_optax_chain(nesterov):
    """The path CUDA-graph capture takes (`capturable` on the group: step factors from a device
    counter, agents/graphed_update.py) is the same chain: it matches the numpy transcription
    through warmup and after, as the float path does, and keeps the host counter and the
    logged learning rate right."""
    params0, grads = _problem(2)
    kw = dict(lr=0.1, warmup=3, nesterov=nesterov)
    ref = reference_run(params0, grads, **kw)
    params = [torch.nn.Parameter(torch.tensor(p, dtype=torch.float32)) for p in params0]
    opt = LaProp(params, **kw)
    opt.param_groups[0]["capturable"] = True
    got, lrs = [], []
    for k, step_grads in enumerate(grads):
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g, dtype=torch.float32)
        if k:  # the first step makes the device counter (from the host one), as in a run
            assert opt.lr_tensor(torch.device("cpu")).item() == pytest.approx(opt.scheduled_lr())
        opt.step()
        assert opt.param_groups[0]["step"] == k + 1
        lrs.append(opt.lr_tensor(torch.device("cpu")).item())
        got.append([p.detach().numpy().copy() for p in params])
    for k, (dr, dg) in enumerate(zip(_deltas(params0, ref), _deltas(params0, got))):
        for a, b in zip(dr, dg):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6, err_msg=f"step {k}")
    assert lrs[:3] == pytest.approx([0.1 / 3, 0.2 / 3, 0.1]) and lrs[-1] == pytest.approx(0.1)


def test_advance_host_step_follows_replays():
    """Under graph replay the host counter advances by `advance_host_step`, so a checkpoint
    saves the right step and a fresh device counter (after load) starts from it."""
    p = torch.nn.Parameter(torch.ones(3))
    opt = LaProp([p], lr=0.1, warmup=10)
    opt.param_groups[0]["capturable"] = True
    p.grad = torch.ones(3)
    opt.step()
    for _ in range(4):
        opt.advance_host_step()
    assert opt.state_dict()["param_groups"][0]["step"] == 5
    fresh = LaProp([torch.nn.Parameter(torch.ones(3))], lr=0.1, warmup=10)
    fresh.load_state_dict(opt.state_dict())
    fresh.param_groups[0]["capturable"] = True
    assert fresh.lr_tensor(torch.device("cpu")).item() == pytest.approx(0.05)


def test_load_state_dict_restarts_the_device_counter_from_the_loaded_step():
    """A capturable LaProp that has stepped, then loads a checkpoint of another step, counts from
    the loaded step (not from its own device counter), and leaving the capturable path drops the
    device copy so eager steps cannot leave it stale."""
    p = torch.nn.Parameter(torch.ones(3))
    opt = LaProp([p], lr=0.1, warmup=10)
    opt.param_groups[0]["capturable"] = True
    for _ in range(2):
        p.grad = torch.ones(3)
        opt.step()
    saved = LaProp([torch.nn.Parameter(torch.ones(3))], lr=0.1, warmup=10)
    for _ in range(5):
        saved.advance_host_step()
    opt.load_state_dict(saved.state_dict())
    opt.param_groups[0]["capturable"] = True
    assert opt.lr_tensor(torch.device("cpu")).item() == pytest.approx(0.05)
    opt.param_groups[0]["capturable"] = False
    p.grad = torch.ones(3)
    opt.step()  # host counter 6
    opt.param_groups[0]["capturable"] = True
    assert opt.lr_tensor(torch.device("cpu")).item() == pytest.approx(0.06)
