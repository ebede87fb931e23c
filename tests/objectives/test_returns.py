"""Known answers for the return math: lambda-returns (two formulas), GAE, n-step targets."""

from __future__ import annotations

import pytest
import torch

from worldmodels.objectives.returns import (
    gae,
    lambda_return,
    lambda_return_seed,
    nstep_targets,
    reverse_scan,
)


def _random_inputs(horizon: int, batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    reward = torch.randn(horizon, batch, generator=g, dtype=torch.float64)
    value = torch.randn(horizon + 1, batch, generator=g, dtype=torch.float64)
    cont = (torch.rand(horizon, batch, generator=g) > 0.25).double()  # about 1 in 4 is a 0
    return reward, value, cont


def _loop_scan(x: torch.Tensor, d: torch.Tensor, init: torch.Tensor) -> torch.Tensor:
    out, y = [], init
    for t in reversed(range(x.shape[0])):
        y = x[t] + d[t] * y
        out.append(y)
    return torch.stack(out[::-1])


@pytest.mark.parametrize("steps", [1, 2, 3, 7, 16, 300])
def test_reverse_scan_matches_sequential_loop(steps):
    g = torch.Generator().manual_seed(steps)
    x = torch.randn(steps, 5, generator=g, dtype=torch.float64)
    d = torch.rand(steps, 5, generator=g, dtype=torch.float64) * (
        torch.rand(steps, 5, generator=g) > 0.1
    )
    init = torch.randn(5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(reverse_scan(x, d, init), _loop_scan(x, d, init))
    torch.testing.assert_close(
        reverse_scan(x, d), _loop_scan(x, d, torch.zeros(5, dtype=torch.float64))
    )


def test_lambda_return_known_answer_by_hand():
    # H=2, one env: r=(1, 2), v=(0, 10, 20), cont=(1, 1), gamma=0.5, lam=0.5.
    # R_1 = 2 + 0.5 * v_2 = 12;  R_0 = 1 + 0.5 * (0.5 * 10 + 0.5 * 12) = 6.5.
    reward = torch.tensor([[1.0], [2.0]])
    value = torch.tensor([[0.0], [10.0], [20.0]])
    cont = torch.ones(2, 1)
    out = lambda_return(reward, value, cont, gamma=0.5, lam=0.5)
    torch.testing.assert_close(out, torch.tensor([[6.5], [12.0]]))
    # A termination after step 0 cuts everything behind it: R_0 = r_0.
    out = lambda_return(reward, value, torch.tensor([[0.0], [1.0]]), gamma=0.5, lam=0.5)
    torch.testing.assert_close(out[0], torch.tensor([1.0]))


@pytest.mark.parametrize(
    "horizon,lam,seed", [(1, 0.95, 0), (5, 0.95, 1), (15, 0.95, 2), (15, 0.0, 3), (15, 1.0, 4)]
)
def test_lambda_return_recursion_equals_seed_closed_form(horizon, lam, seed):
    reward, value, cont = _random_inputs(horizon, 8, seed)
    assert (cont == 0).any() or horizon == 1
    fast = lambda_return(reward, value, cont, gamma=0.99, lam=lam)
    seed_form = lambda_return_seed(reward, value, cont, gamma=0.99, lam=lam)
    assert fast.shape == (horizon, 8)
    torch.testing.assert_close(fast, seed_form)


def test_lambda_return_limits_are_td0_and_monte_carlo():
    reward, value, cont = _random_inputs(6, 4, 7)
    gamma = 0.9
    td0 = lambda_return(reward, value, cont, gamma, lam=0.0)
    torch.testing.assert_close(td0, reward + gamma * cont * value[1:])
    mc = lambda_return(reward, value, cont, gamma, lam=1.0)
    expected = _loop_scan(reward, gamma * cont, value[-1])
    torch.testing.assert_close(mc, expected)


def test_lambda_return_is_differentiable():
    reward, value, cont = _random_inputs(15, 4, 8)
    value.requires_grad_(True)
    reward.requires_grad_(True)
    lambda_return(reward, value, cont, 0.99, 0.95).sum().backward()
    assert (
        value.grad is not None and torch.isfinite(value.grad).all() and value.grad.abs().sum() > 0
    )
    assert reward.grad is not None and torch.isfinite(reward.grad).all()


def _gae_loop(reward, value, cont, trace, gamma, lam):
    steps, batch = reward.shape
    adv = torch.zeros(steps, batch, dtype=reward.dtype)
    for b in range(batch):
        running = 0.0
        for t in reversed(range(steps)):
            delta = float(reward[t, b] + gamma * cont[t, b] * value[t + 1, b] - value[t, b])
            running = delta + gamma * lam * float(trace[t, b]) * running
            adv[t, b] = running
    return adv


def test_gae_matches_plain_python_loop():
    reward, value, cont = _random_inputs(40, 3, 11)
    out = gae(reward, value, cont, gamma=0.99, lam=0.95)
    torch.testing.assert_close(out, _gae_loop(reward, value, cont, cont, 0.99, 0.95))


def test_gae_with_a_separate_trace_for_truncations():
    reward, value, cont = _random_inputs(40, 3, 12)
    trace = cont * (torch.rand(40, 3, generator=torch.Generator().manual_seed(0)) > 0.2).double()
    out = gae(reward, value, cont, gamma=0.9, lam=0.8, trace=trace)
    torch.testing.assert_close(out, _gae_loop(reward, value, cont, trace, 0.9, 0.8))


def test_gae_known_answer_by_hand():
    # T=2: r=(1, 1), v=(0.5, 1, 2), no ends, gamma=lam=1:
    # A_1 = 1 + 2 - 1 = 2,  A_0 = 1 + 1 + 2 - 0.5 = 3.5.
    reward = torch.ones(2, 1)
    value = torch.tensor([[0.5], [1.0], [2.0]])
    out = gae(reward, value, torch.ones(2, 1), gamma=1.0, lam=1.0)
    torch.testing.assert_close(out, torch.tensor([[3.5], [2.0]]))


def test_nstep_targets_known_answers():
    # Rows t+1 .. t+3 after a start row t, four start rows (columns), gamma = 0.5.
    reward = torch.tensor([[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0], [4.0, 4.0, 4.0, 4.0]])
    is_last = torch.tensor([[0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    is_terminal = torch.tensor([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]], dtype=torch.bool)
    out = nstep_targets(reward, is_last, is_terminal, gamma=0.5)
    # col 0: no end: 1 + 0.5*2 + 0.25*4 = 3, discount 0.5^3.
    # col 1: terminal at t+1: reward 1, discount 0.
    # col 2: terminal at t+2: 1 + 0.5*2 = 2, discount 0.
    # col 3: truncated at t+2: 1 + 0.5*2 = 2, discount 0.25 (bootstrap from v(obs_{t+2})).
    torch.testing.assert_close(out.reward, torch.tensor([3.0, 1.0, 2.0, 2.0]))
    torch.testing.assert_close(out.discount, torch.tensor([0.125, 0.0, 0.0, 0.25]))
    assert out.steps.tolist() == [3, 1, 2, 2]


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="one bootstrap row"):
        lambda_return(torch.zeros(3, 2), torch.zeros(3, 2), torch.ones(3, 2), 0.99, 0.95)
    with pytest.raises(ValueError, match="shapes must match"):
        gae(torch.zeros(3, 2), torch.zeros(4, 2), torch.ones(3, 1), 0.99, 0.95)
    with pytest.raises(ValueError, match=r"\[n, B\]"):
        nstep_targets(torch.zeros(3), torch.zeros(3).bool(), torch.zeros(3).bool(), 0.9)
