"""The run's health check: every loss finite and every network's weights finite and bounded.

Called before each evaluation, log and checkpoint, so a diverged policy never acts in an
evaluation and never overwrites a good checkpoint. One host sync per check.
"""

from __future__ import annotations

from typing import Any

import torch

from worldmodels.errors import RunFailed


class NonFiniteLossError(RunFailed):
    """A loss became NaN or infinite, or weights diverged; the run stops and keeps its last good
    checkpoint."""


def networks(agent: Any) -> dict[str, list[torch.Tensor]]:
    """The parameters of every network an agent holds, by attribute name (modules and bare
    parameters such as SAC's log_alpha)."""
    out: dict[str, list[torch.Tensor]] = {}
    for name, value in vars(agent).items():
        params: list[torch.Tensor]
        if isinstance(value, torch.nn.Module):
            params = list(value.parameters())
        elif isinstance(value, torch.Tensor) and value.requires_grad:
            params = [value]
        else:
            continue
        if params:
            out[name] = params
    return out


def parameter_norms(agent: Any) -> dict[str, float]:
    """Global L2 norm of each network's parameters (one transfer per device)."""
    nets = networks(agent)
    if not nets:
        return {}
    norms = [
        torch.linalg.vector_norm(torch.stack([p.detach().float().norm() for p in ps]))
        for ps in nets.values()
    ]
    by_device: dict[torch.device, list[int]] = {}
    for i, n in enumerate(norms):
        by_device.setdefault(n.device, []).append(i)
    values = [0.0] * len(norms)
    for idx in by_device.values():
        for i, v in zip(idx, torch.stack([norms[i] for i in idx]).tolist()):
            values[i] = v
    return dict(zip(nets, values))


def check_health(
    loss_values: dict[str, float], agent: Any, limit: float, where: str, keep_note: str
) -> None:
    """Raises NonFiniteLossError (one line) naming every non-finite loss, or every network whose
    parameter norm is non-finite or above `limit` (trainer.param_norm_limit)."""
    bad = [k for k, v in loss_values.items() if not _finite(v)]
    if bad:
        terms = ", ".join(f"{k}={loss_values[k]}" for k in bad)
        raise NonFiniteLossError(f"non-finite loss at {where}: {terms}; stopped; {keep_note}")
    norms = parameter_norms(agent)
    diverged = {k: v for k, v in norms.items() if not _finite(v) or v > limit}
    if diverged:
        nets = ", ".join(f"{k} norm {v:.3g}" for k, v in diverged.items())
        raise NonFiniteLossError(
            f"weights diverged at {where}: {nets} (trainer.param_norm_limit={limit:g}); "
            f"stopped before evaluating or checkpointing them; {keep_note}"
        )


def _finite(v: float) -> bool:
    return v == v and v not in (float("inf"), float("-inf"))
