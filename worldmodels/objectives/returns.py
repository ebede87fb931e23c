"""Return math shared by every head: lambda-returns (Dreamer), GAE (PPO), n-step targets (SAC, TD3,
DQN through the replay). Pure torch functions on time-major tensors ([T, B]: time first), no host
sync, no Python branching on tensor values, so they run inside compiled updates.

All three are instances of one linear backward recursion, y_t = x_t + d_t * y_{t+1}, which
`reverse_scan` evaluates in log2(T) vectorized steps (a Hillis-Steele scan) instead of T small
sequential ones: GAE over a 2048-step rollout is 11 tensor ops rather than 2048.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


def reverse_scan(
    x: torch.Tensor, discount: torch.Tensor, init: torch.Tensor | None = None
) -> torch.Tensor:
    """y_t = x_t + discount_t * y_{t+1} for t = T-1 .. 0, with y_T = init (zeros when None).

    x, discount: [T, ...]; init: [...]. Returns y: [T, ...]. Zeros in `discount` (episode ends)
    are fine: the scan multiplies discounts, it never divides by them.
    """
    _check_same_shape("reverse_scan", x=x, discount=discount)
    steps = x.shape[0]
    discount = discount.to(x.dtype)
    if init is not None:
        if init.shape != x.shape[1:]:
            raise ValueError(
                f"reverse_scan: init has shape {tuple(init.shape)}, expected {tuple(x.shape[1:])}"
            )
        # The bootstrap is one more element whose own discount is 0: y_T = init.
        x = torch.cat([x, init[None].to(x.dtype)])
        discount = torch.cat([discount, torch.zeros_like(discount[:1])])
    # After the step with offset s, x_t holds sum_{k=t}^{t+2s-1} (prod_{j=t}^{k-1} d_j) x_k and
    # discount_t holds prod_{j=t}^{t+2s-1} d_j (elements past the end count as x=0, d=0).
    offset = 1
    while offset < x.shape[0]:
        pad = torch.zeros_like(x[:offset])
        x = x + discount * torch.cat([x[offset:], pad])
        discount = discount * torch.cat([discount[offset:], pad])
        offset *= 2
    return x[:steps]


def lambda_return(
    reward: torch.Tensor, value: torch.Tensor, cont: torch.Tensor, gamma: float, lam: float
) -> torch.Tensor:
    """Dreamer's lambda-return by the backward recursion.

    R_t = r_t + gamma * cont_t * ((1 - lam) * v_{t+1} + lam * R_{t+1}),  R_H = v_H.

    reward, cont: [H, B] (r_t and cont_t belong to the step from s_t to s_{t+1});
    value: [H+1, B] (value[H] bootstraps). Returns [H, B]. Differentiable in all inputs.
    """
    horizon = _check_horizon("lambda_return", reward, value, cont)
    disc = gamma * cont.to(reward.dtype)  # [H, B]
    x = reward + disc * (1 - lam) * value[1:]  # [H, B]
    return reverse_scan(x, disc * lam, init=value[horizon])


def replay_lambda_return(
    reward: torch.Tensor,
    is_last: torch.Tensor,
    is_terminal: torch.Tensor,
    boot: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """The current DreamerV3 release's return along replayed sequences (its `repval` target;
    dreamerv3/agent.py `repl_loss` and `lambda_return`, lines 449-490), batch-major [B, T].

    Row convention: row t holds the reward and flags of arriving at o_t. With live_t =
    gamma * (1 - is_terminal_t) and c_t = lam * (1 - is_last_t), for t < T-1:
        R_t = r_{t+1} + live_{t+1} * ((1 - c_{t+1}) * boot_{t+1} + c_{t+1} * R_{t+1}),
        R_{T-1} = boot_{T-1},
    where `boot` [B, T] is the imagination's lambda-return from each posterior (the source passes
    its value predictions too, but its `lambda_return` never reads them). A row that ends an
    episode (is_last) bootstraps from boot alone. Returns [B, T-1] (R_0 .. R_{T-2}).
    """
    _check_same_shape(
        "replay_lambda_return", reward=reward, is_last=is_last, is_terminal=is_terminal, boot=boot
    )
    live = gamma * (1.0 - is_terminal.to(reward.dtype))[:, 1:]  # [B, T-1]
    cont = lam * (1.0 - is_last.to(reward.dtype))[:, 1:]
    x = reward[:, 1:] + (1 - cont) * live * boot[:, 1:]
    out = reverse_scan(x.transpose(0, 1), (live * cont).transpose(0, 1), init=boot[:, -1])
    return out.transpose(0, 1)


def lambda_return_seed(
    reward: torch.Tensor, value: torch.Tensor, cont: torch.Tensor, gamma: float, lam: float
) -> torch.Tensor:
    """The same returns by the closed form of the seed (DESIGN.md, last section), for tests.

    V_lambda(s_t) = (1-lam) sum_{n=1}^{N-1} lam^{n-1} V^n(s_t) + lam^{N-1} V^N(s_t),  N = H - t,
    V^n(s_t) = sum_{i<n} (prod_{j<i} gamma c_{t+j}) r_{t+i} + (prod_{j<n} gamma c_{t+j}) v_{t+n}.

    Shapes as `lambda_return`. O(H^3) Python loops: a reference, not for training.
    """
    horizon = _check_horizon("lambda_return_seed", reward, value, cont)
    disc = gamma * cont.to(reward.dtype)  # [H, B]
    out = []
    for t in range(horizon):
        remaining = horizon - t
        total = torch.zeros_like(reward[0])
        for n in range(1, remaining + 1):
            # V^n(s_t): n rewards, then the value n steps ahead, each discounted by the product
            # of gamma * cont over the steps before it.
            vn = torch.zeros_like(reward[0])
            factor = torch.ones_like(reward[0])
            for i in range(n):
                vn = vn + factor * reward[t + i]
                factor = factor * disc[t + i]
            vn = vn + factor * value[t + n]
            weight = lam ** (n - 1) * ((1 - lam) if n < remaining else 1.0)
            total = total + weight * vn
        out.append(total)
    return torch.stack(out)


def gae(
    reward: torch.Tensor,
    value: torch.Tensor,
    cont: torch.Tensor,
    gamma: float,
    lam: float,
    trace: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generalized advantage estimation.

    delta_t = r_t + gamma cont_t v_{t+1} - v_t,   A_t = delta_t + gamma lam trace_t A_{t+1}.

    reward, cont: [T, B] (the reward and continue flag of the step t -> t+1; cont is 0 after a
    termination, so the next value is not bootstrapped); value: [T+1, B] (value[T] bootstraps).
    trace: [T, B], whether A_{t+1} flows into A_t; defaults to `cont`. Pass it separately for
    truncations (trace 0, cont 1: bootstrap from the last value but do not run into the next
    episode). Returns advantages [T, B]; the value targets are `advantages + value[:-1]`.
    """
    _check_horizon("gae", reward, value, cont)
    cont = cont.to(reward.dtype)
    trace = cont if trace is None else trace.to(reward.dtype)
    _check_same_shape("gae", reward=reward, trace=trace)
    delta = reward + gamma * cont * value[1:] - value[:-1]  # [T, B]
    return reverse_scan(delta, gamma * lam * trace)


class NStep(NamedTuple):
    """n-step pieces of a TD target: target = reward + discount * v(obs_{t+steps})."""

    reward: torch.Tensor  # [B] sum_{i<k} gamma^i r_{t+1+i}
    discount: torch.Tensor  # [B] gamma^k * (1 - is_terminal_{t+k})
    steps: torch.Tensor  # [B] int64, k: n, or fewer when the episode ends first


def nstep_targets(
    reward: torch.Tensor, is_last: torch.Tensor, is_terminal: torch.Tensor, gamma: float
) -> NStep:
    """n-step returns from a start row t, in the replay's ROW convention (worldmodels.envs.spaces).

    reward, is_last, is_terminal: [n, B], the rows t+1 .. t+n that follow the start row t (row
    t+1+i holds the reward for arriving there). The sum stops at the episode's last row:
    k = min(n, steps to the first is_last after t). Returns NStep(reward [B] = sum_{i<k} gamma^i
    r_{t+1+i}, discount [B] = gamma^k * (1 - is_terminal_{t+k}), steps [B] = k). A termination
    bootstraps with 0; a truncation (is_last, not is_terminal) bootstraps from v(obs_{t+k}).
    """
    _check_same_shape("nstep_targets", reward=reward, is_last=is_last, is_terminal=is_terminal)
    if reward.dim() != 2 or reward.shape[0] < 1:
        raise ValueError(
            f"nstep_targets: expected [n, B] inputs with n >= 1, got {tuple(reward.shape)}"
        )
    n = reward.shape[0]
    not_last = (~is_last.bool()).to(reward.dtype)  # [n, B]
    # alive_i = 1 while none of rows t+1 .. t+i was an episode's last row (exclusive cumprod).
    alive = torch.cat(
        [torch.ones_like(not_last[:1]), torch.cumprod(not_last[:-1], dim=0)]
    )  # [n, B]
    powers = gamma ** torch.arange(n, device=reward.device, dtype=reward.dtype)  # [n]
    total = (alive * powers[:, None] * reward).sum(0)  # [B]
    steps = alive.sum(0).long()  # [B], in 1..n
    terminal = is_terminal.bool().gather(0, (steps - 1)[None])[0]  # [B] is_terminal_{t+k}
    discount = (gamma ** steps.to(reward.dtype)) * (~terminal).to(reward.dtype)
    return NStep(total, discount, steps)


def _check_horizon(name: str, reward: torch.Tensor, value: torch.Tensor, cont: torch.Tensor) -> int:
    _check_same_shape(name, reward=reward, cont=cont)
    if reward.dim() < 1 or reward.shape[0] < 1:
        raise ValueError(
            f"{name}: reward must be time-major [T, ...] with T >= 1, got {tuple(reward.shape)}"
        )
    horizon = reward.shape[0]
    expected = (horizon + 1, *reward.shape[1:])
    if tuple(value.shape) != expected:
        raise ValueError(
            f"{name}: value has shape {tuple(value.shape)}, expected {expected} (one bootstrap row)"
        )
    return horizon


def _check_same_shape(name: str, **tensors: torch.Tensor) -> None:
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"{name}: shapes must match, got {shapes}")
