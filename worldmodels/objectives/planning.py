"""Optimizer math of the sampling-based planners (worldmodels/agents/planners.py): candidate
sampling, the planning return, elite selection and the CEM / MPPI refits.

Pure torch functions at static shapes: no host sync and no Python branching on tensor values, so a
whole plan (all iterations) traces into one compiled graph. Letters: H horizon, B envs planned for
at once, N candidates per env, K elites per env, A action dims, M = B * N imagined trajectories.

An action-sequence distribution is a `mean` [H, B, A] and a `std` [H, B, A]. Continuous actions are
Gaussian, clipped to [-1, 1]; for discrete actions `mean` holds class probabilities (one-hot
candidates; the refit mean of one-hot elites is their weighted frequency) and `std` is unused.
"""

from __future__ import annotations

import torch

#: Probability floor of a discrete plan (every class stays reachable by sampling).
PROB_FLOOR = 1e-3


def initial_mean(
    horizon: int, batch: int, act_dim: int, discrete: bool, device: torch.device
) -> torch.Tensor:
    """The uninformed plan [H, B, A]: zeros (continuous) or uniform probabilities (discrete)."""
    fill = 1.0 / act_dim if discrete else 0.0
    return torch.full((horizon, batch, act_dim), fill, device=device)


def shift_plan(plan: torch.Tensor, init: torch.Tensor, is_first: torch.Tensor) -> torch.Tensor:
    """Warm start: the previous plan [H, B, A] advanced one step (its last step refilled from
    `init` [H, B, A]); envs whose episode starts (is_first [B]) restart from `init`."""
    shifted = torch.cat([plan[1:], init[-1:]], 0)  # [H, B, A]
    return torch.where(is_first.view(1, -1, 1), init, shifted)


def sample_candidates(
    mean: torch.Tensor, std: torch.Tensor, n: int, discrete: bool
) -> torch.Tensor:
    """n action sequences per env [H, B, n, A] from the plan distribution."""
    h, b, a = mean.shape
    if discrete:
        logits = mean.clamp(min=1e-6).log().unsqueeze(2).expand(h, b, n, a)
        return gumbel_onehot(logits)
    noise = torch.randn(h, b, n, a, device=mean.device, dtype=mean.dtype)
    return (mean.unsqueeze(2) + std.unsqueeze(2) * noise).clamp(-1.0, 1.0)


def uniform_candidates(
    horizon: int, batch: int, n: int, act_dim: int, discrete: bool, device: torch.device
) -> torch.Tensor:
    """n uniformly random action sequences per env [H, B, n, A] (random shooting)."""
    if discrete:
        return gumbel_onehot(torch.zeros(horizon, batch, n, act_dim, device=device))
    return torch.rand(horizon, batch, n, act_dim, device=device) * 2.0 - 1.0


def gumbel_onehot(logits: torch.Tensor) -> torch.Tensor:
    """One-hot samples [..., A] of the categoricals with `logits` [..., A] (Gumbel-max: no
    multinomial, so it compiles)."""
    u = torch.rand_like(logits).clamp(1e-6, 1.0 - 1e-6)
    index = (logits - torch.log(-torch.log(u))).argmax(-1)
    return torch.nn.functional.one_hot(index, logits.shape[-1]).to(logits.dtype)


def mode_action(mean: torch.Tensor, discrete: bool) -> torch.Tensor:
    """The most likely action of a plan distribution: the mean (continuous) or the one-hot of the
    most probable class (discrete); same shape as `mean`."""
    if discrete:
        return torch.nn.functional.one_hot(mean.argmax(-1), mean.shape[-1]).to(mean.dtype)
    return mean


def planning_return(
    reward: torch.Tensor,
    cont: torch.Tensor,
    gamma: float,
    terminal_value: torch.Tensor | None = None,
) -> torch.Tensor:
    """Discounted return of imagined trajectories [M].

    reward [H, M] and cont [H, M] are predicted on arriving at state t+1 (world_model.Rollout), so
    R = sum_t gamma^t (prod_{i<t} c_i) r_t + gamma^H (prod_{i<H} c_i) V(s_H): a reward still counts
    on the step that ends the episode, nothing after it does (Dreamer's convention).
    """
    if reward.shape != cont.shape:
        raise ValueError(
            f"reward {tuple(reward.shape)} and cont {tuple(cont.shape)} must match [H, M]"
        )
    step = gamma * cont  # [H, M]
    reach = torch.cumprod(torch.cat([torch.ones_like(step[:1]), step], 0), 0)  # [H+1, M]
    ret = (reach[:-1] * reward).sum(0)  # [M]
    if terminal_value is not None:
        ret = ret + reach[-1] * terminal_value
    return ret


def select_elites(
    candidates: torch.Tensor, returns: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best candidates per env: candidates [H, B, N, A], returns [B, N] ->
    (elites [H, B, K, A], elite returns [B, K], best first)."""
    h, b, n, a = candidates.shape
    if returns.shape != (b, n):
        raise ValueError(f"returns must be [B={b}, N={n}], got {tuple(returns.shape)}")
    elite_ret, index = returns.topk(k, dim=1)  # [B, K]
    gather = index.view(1, b, k, 1).expand(h, b, k, a)
    return candidates.gather(2, gather), elite_ret


def weighted_moments(
    elites: torch.Tensor, weights: torch.Tensor, min_std: float, max_std: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std [H, B, A] of elites [H, B, K, A] under per-env weights [B, K] summing to 1;
    std clamped to [min_std, max_std]."""
    w = weights.unsqueeze(0).unsqueeze(-1).to(elites.dtype)  # [1, B, K, 1]
    mean = (w * elites).sum(2)  # [H, B, A]
    var = (w * (elites - mean.unsqueeze(2)) ** 2).sum(2)
    return mean, var.sqrt().clamp(min_std, max_std)


def cem_refit(
    elites: torch.Tensor, min_std: float, max_std: float, discrete: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """CEM (PlaNet): the plan becomes the elites' mean and std (equal weights)."""
    h, b, k, a = elites.shape
    weights = torch.full((b, k), 1.0 / k, device=elites.device)
    mean, std = weighted_moments(elites, weights, min_std, max_std)
    return _floor(mean, discrete), std


def mppi_refit(
    elites: torch.Tensor,
    elite_ret: torch.Tensor,
    temperature: float,
    min_std: float,
    max_std: float,
    discrete: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MPPI as TD-MPC2: elites weighted by softmax(temperature * return) (TD-MPC2's `temperature`
    multiplies the returns: larger is greedier), weighted mean and std."""
    weights = torch.softmax(temperature * elite_ret.float(), dim=1)  # [B, K]
    mean, std = weighted_moments(elites, weights, min_std, max_std)
    return _floor(mean, discrete), std


def _floor(mean: torch.Tensor, discrete: bool) -> torch.Tensor:
    if not discrete:
        return mean
    mean = mean.clamp(min=PROB_FLOOR)
    return mean / mean.sum(-1, keepdim=True)
