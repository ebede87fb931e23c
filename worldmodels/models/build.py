"""Build a world model from its config node, and save / load it as `world_model.pt`.

    wm = build_world_model(cfg.agent.world_model, obs_spec, act_spec)  # `_target_` + options
    save_world_model(run_dir / "world_model.pt", wm)
    wm = load_world_model(run_dir, device)                            # the class that wrote it

The config node is a configs/world_model/ yaml (`_target_`: a WorldModelBase subclass, the rest
its constructor options). world_model.pt records the target, the options (`config()`), the specs
and the weights, so it rebuilds without the run's config.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import torch

from worldmodels.envs.spaces import ActSpec, ArraySpec, ObsSpec
from worldmodels.models.base import WorldModelBase, plain_specs
from worldmodels.models.options import check_options

#: world_model.pt layout; files without it were written before world models recorded their class.
FORMAT = 2
FILE = "world_model.pt"


def plain(x: Any) -> Any:
    """OmegaConf containers (Hydra hands nested nodes over as them) -> plain dicts and lists."""
    if isinstance(x, Mapping):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) or type(x).__name__ == "ListConfig":
        return [plain(v) for v in x]
    return x


def world_model_class(target: Any) -> type[WorldModelBase]:
    """The class a `_target_` names; ValueError (one line) unless it is a WorldModelBase."""
    if not isinstance(target, str) or not target:
        raise ValueError(
            "world_model._target_ must name a world-model class, e.g. "
            "worldmodels.models.world_model.WorldModel (configs/world_model/rssm.yaml)"
        )
    try:
        cls = hydra.utils.get_object(target)
    except Exception as err:  # hydra wraps import errors in several types
        raise ValueError(f"world_model._target_={target!r} cannot be imported ({err})") from err
    if not (isinstance(cls, type) and issubclass(cls, WorldModelBase)):
        raise ValueError(
            f"world_model._target_={target!r} is not a world model "
            "(a subclass of worldmodels.models.base.WorldModelBase)"
        )
    return cls


def target_of(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def build_world_model(
    cfg: Mapping[str, Any], obs_spec: ObsSpec, act_spec: ActSpec
) -> WorldModelBase:
    """The world model a config node (`_target_` + options) describes, for these specs."""
    options = {k: v for k, v in plain(dict(cfg)).items() if not k.startswith("_")}
    cls = world_model_class(cfg.get("_target_"))
    params = inspect.signature(cls).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        valid = set(params) - {"obs_spec", "act_spec"}
        check_options(cls.__name__, options, valid, "agent.world_model.", "world model")
    obs_spec, act_spec = plain_specs(obs_spec, act_spec)
    return cls(obs_spec, act_spec, **options)


def own_world_model(
    world_model: WorldModelBase | Mapping[str, Any] | None,
    obs_spec: ObsSpec,
    act_spec: ActSpec,
    device: str | torch.device,
    owner: str,
) -> WorldModelBase:
    """The world model an agent owns, on `device`: the built one it was handed, or the one its
    config node describes; ValueError (one line) for none."""
    if world_model is None:
        raise ValueError(f"{owner} needs a world_model (a built one or its config node)")
    if isinstance(world_model, Mapping):
        world_model = build_world_model(world_model, obs_spec, act_spec)
    return world_model.to(device)


def save_world_model(path: str | Path, wm: WorldModelBase) -> None:
    """`path` (a file, or a dir to hold world_model.pt), written atomically: the class, its
    options, the specs and the weights."""
    path = Path(path)
    if path.is_dir():
        path = path / FILE
    payload = {
        "format": FORMAT,
        "_target_": target_of(type(wm)),
        "config": wm.config(),
        "obs_spec": {k: dataclasses.asdict(v) for k, v in wm.obs_spec.items()},
        "act_spec": dataclasses.asdict(wm.act_spec),
        "state_dict": wm.state_dict(),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_world_model(path: str | Path, device: str | torch.device = "cpu") -> WorldModelBase:
    """The world model of RUN_DIR/world_model.pt (or that file), rebuilt from the class and options
    it records, its weights loaded, on `device`. ValueError (one line) for a missing file or one
    written before world models recorded their class (retrain, or train again for a new file)."""
    # CRC-checked (a garbled byte would otherwise load as a wrong number); imported here because
    # the checkpoint module sits above models/ in the layering.
    from worldmodels.training.checkpoint import load_torch_file

    path = Path(path)
    if path.is_dir():
        path = path / FILE
    if not path.is_file():
        raise ValueError(
            f"world model {str(path)!r} does not exist; give RUN_DIR/{FILE} of a run whose agent "
            "has a world model (e.g. agent=dreamer)"
        )
    payload = load_torch_file(path, "world model")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(
            f"{path} was written by an older version (no world-model class recorded); it cannot "
            "be loaded: train the run again (or resume it for one checkpoint) to rewrite it"
        )
    obs_spec = {k: ArraySpec(tuple(v["shape"]), v["dtype"]) for k, v in payload["obs_spec"].items()}
    act_spec = ActSpec(**payload["act_spec"])
    wm = build_world_model(
        {"_target_": payload["_target_"], **payload["config"]}, obs_spec, act_spec
    )
    wm.load_state_dict(payload["state_dict"])
    return wm.to(device)
