"""Dreamer's actor-critic math in imagination (pure functions plus the return normalizer).

Time-major shapes: H imagined steps, N start states. The returns themselves come from
`worldmodels.objectives.returns.lambda_return`.
"""

from __future__ import annotations

import torch
from torch import nn

ACTOR_GRADS = ("dynamics", "reinforce", "mix", "auto")
#: Behaviour loss terms of the current release's single loss (dreamerv3/configs.yaml loss_scales).
AC_LOSS_TERMS = ("policy", "value", "repval")


def reinforce_weight(actor_grad: str, mix: float, discrete: bool) -> float:
    """Weight rho of the REINFORCE term (1 - rho goes to dynamics backprop).

    "dynamics": 0 (DreamerV1), "reinforce": 1 (DreamerV3), "mix": `mix`, "auto": REINFORCE for
    discrete actions and dynamics backprop for continuous ones (DreamerV2).
    """
    if actor_grad not in ACTOR_GRADS:
        raise ValueError(f"unknown actor_grad {actor_grad!r}; valid: {', '.join(ACTOR_GRADS)}")
    if actor_grad == "mix" and not 0.0 <= mix <= 1.0:
        raise ValueError(f"actor_grad_mix must be in [0, 1], got {mix}")
    return {"dynamics": 0.0, "reinforce": 1.0, "mix": float(mix), "auto": float(discrete)}[
        actor_grad
    ]


def imagination_weight(start_cont: torch.Tensor, cont: torch.Tensor) -> torch.Tensor:
    """Weight of imagined state t: w_0 = start_cont [N], w_t = w_{t-1} * cont_{t-1}, where
    cont [H, N] is the discounted continue of the step into state t (gamma * c; the releases'
    `cumprod(discount * cont) / discount`). -> weights [H, N] (detached)."""
    w = torch.cat([start_cont.unsqueeze(0), cont[:-1]], 0)  # [H, N]
    return torch.cumprod(w, 0).detach()


class ReturnNorm(nn.Module):
    """DreamerV3's return scale: EMAs of the 5th and 95th return percentiles; scale =
    max(limit, P95 - P5), so small returns are not blown up. State lives in buffers."""

    low_high: torch.Tensor

    def __init__(
        self, decay: float = 0.99, limit: float = 1.0, low: float = 0.05, high: float = 0.95
    ):
        super().__init__()
        self.decay, self.limit, self.low, self.high = decay, limit, low, high
        self.register_buffer("low_high", torch.zeros(2))

    @torch.no_grad()
    def update(self, ret: torch.Tensor) -> torch.Tensor:
        """Fold a batch of returns into the EMAs; return the scale (0-dim)."""
        flat = ret.detach().float().flatten()
        # float quantiles: a tensor `q` would be range-checked with a host sync on CUDA
        q = torch.stack([torch.quantile(flat, self.low), torch.quantile(flat, self.high)])
        self.low_high.lerp_(q, 1 - self.decay)
        return self.scale()

    def scale(self) -> torch.Tensor:
        return (self.low_high[1] - self.low_high[0]).clamp(min=self.limit)


def actor_loss(
    ret: torch.Tensor,  # [H, N] lambda returns (with gradients to the actions when rho < 1)
    base: torch.Tensor,  # [H, N] baseline value v(s_t)
    log_prob: torch.Tensor,  # [H, N] log pi(a_t | s_t)
    entropy: torch.Tensor,  # [H, N]
    weight: torch.Tensor,  # [H, N]
    scale: torch.Tensor | float,  # return scale (1 without normalization)
    rho: float,  # weight of REINFORCE; 1 - rho on dynamics backprop
    entropy_coef: float,
    dynamics_baseline: bool = False,
) -> torch.Tensor:
    """-(rho * log pi * sg(adv) + (1 - rho) * D + eta * H[pi]), weighted mean (0-dim), with
    adv = (ret - base) / scale and the dynamics objective D = ret / scale (V1, V2), or
    D = (ret - base) / scale with gradients through both when `dynamics_baseline` (the 2023 V3
    release: `loss = -adv` for backprop, dreamerv3/behaviors.py, 2023 agent.py lines 278-301)."""
    adv = (ret - base) / scale
    objective = torch.zeros_like(ret)
    if rho > 0:
        objective = objective + rho * log_prob * adv.detach()
    if rho < 1:
        objective = objective + (1 - rho) * (adv if dynamics_baseline else ret / scale)
    objective = objective + entropy_coef * entropy
    return -(weight * objective).mean()


def critic_loss(
    log_prob_ret: torch.Tensor,  # [H, N] log p(sg(R_t) | s_t)
    log_prob_slow: torch.Tensor | None,  # [H, N] log p(sg(slow critic mean) | s_t)
    weight: torch.Tensor,  # [H, N]
    slow_reg: float,
) -> torch.Tensor:
    """Weighted mean of -log p(R) - slow_reg * log p(slow value) (0-dim)."""
    loss = -log_prob_ret
    if log_prob_slow is not None and slow_reg > 0:
        loss = loss - slow_reg * log_prob_slow
    return (weight * loss).mean()
