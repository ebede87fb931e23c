"""LaProp with adaptive gradient clipping and a linear warmup: the current DreamerV3 optimizer.

Ported from the official release (github danijar/dreamerv3 at e3f0224):

- `dreamerv3/agent.py:342-379` (`Agent._make_opt`) builds the optax chain, applied in this order:
  1. `clip_by_agc(agc)`: adaptive gradient clipping, per parameter tensor, of the raw gradient
     against the current parameters (`embodied/jax/opt.py:109-123`):
     `upper = agc * max(pmin, ||p||_2)`, `u = g / max(1, ||g||_2 / upper)`; `agc = 0` turns it off.
  2. `scale_by_rms(beta2, eps)` (`embodied/jax/opt.py:126-143`): `t += 1`,
     `nu = beta2 * nu + (1 - beta2) * u^2`, `u = u / (sqrt(nu / (1 - beta2^t)) + eps)`
     (eps outside the square root).
  3. `scale_by_momentum(beta1, nesterov)` (`embodied/jax/opt.py:146-164`): `t += 1`,
     `mu = beta1 * mu + (1 - beta1) * u`, `u = mu / (1 - beta1^t)`; with nesterov the output is
     `(beta1 * mu + (1 - beta1) * u) / (1 - beta1^t)` with the new `mu`.
  4. `optax.scale_by_learning_rate(schedule)`: `u = -schedule(count) * u`, the schedule evaluated at
     the count before it is incremented (0 on the first update). With `warmup > 0` the schedule is
     `optax.join_schedules([linear_schedule(0, lr, warmup), constant_schedule(lr)], [warmup])`:
     `lr * k / warmup` for update k = 0 .. warmup - 1 (so the very first update is exactly zero),
     then `lr`.

  Normalizing before momentum is what makes this LaProp rather than Adam (Adam takes momentum of
  the raw gradient and normalizes after).
- `dreamerv3/configs.yaml:87`: `opt: {lr: 4e-5, agc: 0.3, eps: 1e-20, beta1: 0.9, beta2: 0.999,
  momentum: True, wd: 0.0, schedule: const, warmup: 1000, anneal: 0}`; those are the defaults here.
  (`momentum` is not read by `_make_opt`: the momentum stage is always in the chain. Weight decay
  is 0 in the release and the `linear` / `cosine` anneal schedules are unused there, so neither is
  offered.)

All three counters of the official chain (rms, momentum, schedule) advance together once per
update, so one Python-int `step` per parameter group stands for them: it lives in the param group,
so `state_dict()` / `load_state_dict()` carry it and a resumed run continues exactly. The step runs
on `torch._foreach_*` ops (one call per stage for all tensors of a group) and never syncs with the
host: the bias corrections and the warmup factor are Python floats from the step counter.

Differences from the official code, by torch convention: a parameter whose `.grad` is None is
skipped for that update (optax would treat it as a zero gradient and still decay its moments);
the moments are kept in the parameter's dtype (the official keeps float32; ours are float32 params).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor


def clip_by_agc(
    grads: list[Tensor], params: list[Tensor], clip: float, pmin: float
) -> list[Tensor]:
    """Adaptive gradient clipping (`embodied/jax/opt.py:109-123`), out of place: per tensor,
    `g * 1 / max(1, ||g||_2 / (clip * max(pmin, ||p||_2)))`, so a clipped tensor's norm is exactly
    `clip * max(pmin, ||p||)`. Same-device lists; no host sync (norms stay 0-d tensors)."""
    unorm = torch._foreach_norm(grads)  # 0-d per tensor
    upper = torch._foreach_norm(params)
    torch._foreach_clamp_min_(upper, pmin)
    torch._foreach_mul_(upper, clip)
    ratio = torch._foreach_div(unorm, upper)
    torch._foreach_clamp_min_(ratio, 1.0)
    return list(torch._foreach_div(grads, ratio))  # 0-d divisors broadcast per tensor


class LaProp(torch.optim.Optimizer):
    """AGC -> RMS normalization -> momentum -> -lr * warmup(step), as DreamerV3's `_make_opt`.

    Args:
        params: parameters or parameter groups (each group may override any hyperparameter).
        lr: peak learning rate (after warmup).
        beta1: momentum decay (of the normalized update).
        beta2: decay of the squared-gradient average.
        eps: added to sqrt of the bias-corrected squared average (outside the square root).
        agc: adaptive clipping ratio: a tensor's update norm is capped at agc * max(pmin, ||p||);
            0 disables clipping.
        pmin: floor on the parameter norm in AGC (so zero-initialized tensors can move).
        warmup: number of updates of the linear ramp from 0 to lr; 0 means constant lr.
        nesterov: Nesterov momentum (official option, off in the release config).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 4e-5,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-20,
        agc: float = 0.3,
        pmin: float = 1e-3,
        warmup: int = 1000,
        nesterov: bool = False,
    ) -> None:
        if lr < 0:
            raise ValueError(f"LaProp: lr must be >= 0, got {lr}")
        if not 0 <= beta1 < 1 or not 0 <= beta2 < 1:
            raise ValueError(f"LaProp: betas must be in [0, 1), got beta1={beta1}, beta2={beta2}")
        if eps < 0 or agc < 0 or pmin < 0:
            raise ValueError(f"LaProp: eps, agc, pmin must be >= 0, got {eps}, {agc}, {pmin}")
        if warmup < 0 or int(warmup) != warmup:
            raise ValueError(f"LaProp: warmup must be a non-negative integer, got {warmup}")
        defaults = dict(
            lr=lr,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            agc=agc,
            pmin=pmin,
            warmup=int(warmup),
            nesterov=nesterov,
        )
        # device copies of the step counters for the capturable path (see `_device_step`)
        self._step_tensors: dict[int, Tensor] = {}
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """As torch's, plus the group's update counter (`step`, 0 for a new group)."""
        super().add_param_group(param_group)
        self.param_groups[-1].setdefault("step", 0)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """As torch's; the device counters of the capturable path restart from the loaded host
        counters (the loaded groups are new dicts, and a freed group's id can be reused)."""
        super().load_state_dict(state_dict)
        self._step_tensors.clear()

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("_step_tensors", {})
        for group in self.param_groups:
            group.setdefault("step", 0)

    @staticmethod
    def warmup_factor(step: int, warmup: int) -> float:
        """Schedule factor of update number `step` (0-based: the count before incrementing, as
        optax evaluates schedules): step / warmup during warmup, then 1."""
        if warmup <= 0 or step >= warmup:
            return 1.0
        return step / warmup

    def scheduled_lr(self, group: int = 0) -> float:
        """The learning rate the next `step()` applies to param group `group` (for logging)."""
        g = self.param_groups[group]
        return g["lr"] * self.warmup_factor(g["step"], g["warmup"])

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One update of every parameter that has a gradient; returns the closure's loss if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            # Buckets of same device and dtype, so each foreach call is one fused launch on GPU.
            buckets: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("LaProp does not support sparse gradients")
                buckets.setdefault((p.device, p.dtype), []).append(p)
            count = group["step"]  # updates done so far: optax's count before this update
            group["step"] = count + 1
            if not buckets:
                continue
            if group.get("capturable"):
                bc2, lr_scale = self._device_factors(group, count)
                for params in buckets.values():
                    self._chain(params, group, bc2, lr_scale)
                continue
            # off the capturable path the host counter alone advances: a device copy would go
            # stale, so it is dropped (made again from the host counter if capture turns on)
            self._step_tensors.pop(id(group), None)
            lr_now = group["lr"] * self.warmup_factor(count, group["warmup"])
            for params in buckets.values():
                self._update(params, group, count + 1, lr_now)
        return loss

    def _device_step(self, group: dict[str, Any], host: int | None = None) -> Tensor:
        """The group's update counter as a 0-d float32 tensor on its parameters' device (the
        capturable path), made the first time from `host` (default: the group's host counter,
        updates done so far); the host counter stays the one `state_dict` saves
        (`advance_host_step` keeps it in step under CUDA-graph replay)."""
        # keyed by the group alone: torch.device("cuda") and a parameter's "cuda:0" are one device
        # but unequal keys, and two counters would drift apart (found on the GPU: the logged lr
        # stood still while the update's advanced)
        key = id(group)
        if key not in self._step_tensors:
            start = group["step"] if host is None else host
            self._step_tensors[key] = torch.tensor(float(start), device=group["params"][0].device)
        return self._step_tensors[key]

    def advance_host_step(self) -> None:
        """After a replay of a captured step: the graph advanced the device counters; the host
        counters (saved by `state_dict`, read by `scheduled_lr`) advance here."""
        for group in self.param_groups:
            group["step"] += 1

    def lr_tensor(self, device: torch.device, group: int = 0) -> Tensor:
        """`scheduled_lr` as a 0-d tensor: from the device counter on the capturable path (so a
        replayed graph logs the learning rate of its own update), else from the host counter."""
        g = self.param_groups[group]
        if g.get("capturable") and g["warmup"] > 0:
            step = self._device_step(g)
            return g["lr"] * torch.clamp(step / g["warmup"], max=1.0)
        return torch.full((), self.scheduled_lr(group), device=device)

    def _device_factors(self, group: dict[str, Any], count: int) -> tuple[Tensor, Tensor]:
        """This update's (1 - beta2^t, -lr(count) / (1 - beta1^t)) as 0-d tensors from the
        device counter, which advances here: the same kernels are right at every step, which
        CUDA-graph capture needs (it would record one step's Python floats otherwise). The same
        arithmetic as `_update`, in float32 instead of float64 Python scalars."""
        step = self._device_step(group, count)  # count: updates before this one
        warmup = group["warmup"]
        lr_now = group["lr"] * (torch.clamp(step / warmup, max=1.0) if warmup > 0 else 1.0)
        step.add_(1.0)  # t: the incremented step
        bc1 = 1.0 - torch.pow(group["beta1"], step)
        bc2 = 1.0 - torch.pow(group["beta2"], step)
        return bc2, -lr_now / bc1

    def _update(self, params: list[Tensor], group: dict[str, Any], t: int, lr_now: float) -> None:
        """Apply the chain to `params` (same device and dtype); `t` is the incremented step."""
        beta1, beta2 = group["beta1"], group["beta2"]
        self._chain(params, group, 1 - beta2**t, -lr_now / (1 - beta1**t))

    def _chain(
        self,
        params: list[Tensor],
        group: dict[str, Any],
        bc2: float | Tensor,
        lr_scale: float | Tensor,
    ) -> None:
        """The chain on `params` (same device and dtype) with the step's factors: `bc2` = 1 -
        beta2^t, `lr_scale` = -lr(count) / (1 - beta1^t); Python floats or 0-d tensors."""
        beta1, beta2, eps = group["beta1"], group["beta2"], group["eps"]
        agc, pmin = group["agc"], group["pmin"]
        grads = [p.grad for p in params if p.grad is not None]  # raw gradients, left untouched
        mus, nus = [], []
        for p in params:
            st = self.state[p]
            if not st:
                st["mu"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["nu"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            mus.append(st["mu"])
            nus.append(st["nu"])

        # 1. AGC (opt.py clip_by_agc): u = g / max(1, ||g|| / (agc * max(pmin, ||p||))).
        if agc:
            updates = clip_by_agc(grads, params, agc, pmin)
        else:
            updates = list(torch._foreach_mul(grads, 1.0))  # a copy: the rest works in place

        # 2. scale_by_rms: nu = b2 nu + (1 - b2) u^2; u /= sqrt(nu / (1 - b2^t)) + eps.
        torch._foreach_mul_(nus, beta2)
        torch._foreach_addcmul_(nus, updates, updates, value=1 - beta2)
        denom = torch._foreach_div(nus, bc2)
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, eps)
        torch._foreach_div_(updates, denom)

        # 3. scale_by_momentum: mu = b1 mu + (1 - b1) u; u = mu / (1 - b1^t).
        torch._foreach_mul_(mus, beta1)
        torch._foreach_add_(mus, updates, alpha=1 - beta1)
        if group["nesterov"]:
            # optax.update_moment(updates, mu, beta1, 1) once more on the new mu.
            out = list(torch._foreach_mul(mus, beta1))
            torch._foreach_add_(out, updates, alpha=1 - beta1)
        else:
            out = mus

        # 4. scale_by_learning_rate: p += -lr(count) * u, folded with the momentum bias correction.
        if isinstance(lr_scale, Tensor):  # foreach alpha takes no tensor
            torch._foreach_add_(params, torch._foreach_mul(out, lr_scale))
        else:
            torch._foreach_add_(params, out, alpha=lr_scale)
