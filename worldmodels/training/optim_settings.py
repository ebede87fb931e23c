"""Optimizer hyperparameters that a resume may replace (`resume_new_optimizer_settings=true`).

`torch.optim.Optimizer.load_state_dict` restores the saved param groups, learning rate included,
so an agent built with a corrected `agent.actor_lr` would silently train on with the old one.
`snapshot` takes the freshly built agent's settings, `restore` writes them back after the
checkpoint is loaded; the moments (Adam's state) stay those of the checkpoint.
"""

from __future__ import annotations

from typing import Any

import torch

#: Param-group entries that are the checkpoint's (the tensors, update counters); every other
#: entry (lr, eps, betas, ...) comes from the config.
KEPT = ("params", "step")


def optimizers(obj: Any, depth: int = 2) -> dict[str, torch.optim.Optimizer]:
    """Every optimizer an agent holds, by attribute path (plain helper objects are searched
    `depth` levels deep; modules, tensors and containers are not)."""
    out: dict[str, torch.optim.Optimizer] = {}
    for name, value in vars(obj).items():
        if isinstance(value, torch.optim.Optimizer):
            out[name] = value
        elif (
            depth > 1
            and hasattr(value, "__dict__")
            and not isinstance(value, torch.nn.Module | torch.Tensor | type)
            and type(value).__module__.startswith("worldmodels.")
        ):
            out.update({f"{name}.{k}": v for k, v in optimizers(value, depth - 1).items()})
    return out


def snapshot(agent: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        name: [{k: v for k, v in g.items() if k not in KEPT} for g in opt.param_groups]
        for name, opt in optimizers(agent).items()
    }


def restore(agent: Any, settings: dict[str, list[dict[str, Any]]]) -> None:
    for name, opt in optimizers(agent).items():
        for group, fresh in zip(opt.param_groups, settings.get(name, [])):
            group.update(fresh)
