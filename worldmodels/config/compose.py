"""Compose the config the way `python -m worldmodels.train` does, with every error as one line.

Hydra's own errors (override grammar, an unknown group option, an unknown key without `+`) come
out as multi-line messages with exit code 1; here they become a `UserError` naming the override
and the valid values, like the schema's (worldmodels.config.schema), so every user error of the
command line has one format and one exit code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from worldmodels.config import schema
from worldmodels.config.resume import config_of_run, quote_path_overrides, resume_kind
from worldmodels.errors import UserError

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


def compose_config(overrides: list[str]) -> DictConfig:
    """The composed (unresolved) config for `overrides`; UserError (one line) on Hydra errors."""
    overrides = quote_path_overrides(list(overrides))
    _check_grammar(overrides)
    try:
        return _compose(overrides)
    except MissingConfigException as err:
        raise UserError(_missing_option(err, overrides)) from err
    except HydraException as err:
        raise UserError(_hydra_message(err, overrides)) from err


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain values, every interpolation resolved (UserError when one fails)."""
    try:
        out: Any = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None)
        raise UserError(
            f"cannot resolve {key or 'the config'}: {str(err).splitlines()[0]}"
        ) from err
    assert isinstance(out, dict)
    return out


def check_config(cfg: DictConfig) -> dict[str, Any]:
    """Resolves and validates a composed config (schema and agent options); returns it plain."""
    plain = resolved(cfg)
    schema.validate(plain)
    from worldmodels.agents.base import check_agent_options

    # agent.train_ratio is the loop's (worldmodels.train.train_ratio_of), not a constructor's
    check_agent_options({k: v for k, v in plain["agent"].items() if k != "train_ratio"})
    return plain


def check_command_line(args: list[str]) -> None:
    """What `python -m worldmodels.train ARGS` checks before Hydra runs it: compose and
    validate (UserError, one line). Skipped for Hydra's flags (-m sweeps, --cfg, --help, ...):
    each job of a sweep is validated when it starts."""
    if any(a.startswith("-") for a in args):
        return
    overrides = [a for a in args if not re.match(r"^[+~]*hydra[./]", a)]
    cfg = compose_config(overrides)
    if resume_kind(cfg.resume) == "path":  # the resumed run's config, changed by these args
        cfg = config_of_run(Path(str(cfg.resume)), overrides, compose_config)
    check_config(cfg)


def _compose(overrides: list[str]) -> DictConfig:
    """Hydra's compose, inside a running Hydra app (which has initialized Hydra) or outside."""
    if GlobalHydra.instance().is_initialized():
        return compose(config_name="config", overrides=overrides)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


# ---------------------------------------------------------------------------- Hydra's errors
def _check_grammar(overrides: list[str]) -> None:
    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_override(override)
        except HydraException as err:
            detail = str(err).splitlines()[0]
            hint = ""
            if override.startswith(("resume=", "run_dir=")):
                hint = "; quote the path"
            elif "=" not in override:
                hint = "; overrides are key=value (or group=option)"
            raise UserError(f"cannot parse the override {override!r}: {detail}{hint}") from err


def _missing_option(err: MissingConfigException, overrides: list[str]) -> str:
    missing = str(err.missing_cfg_file or "")
    group, _, option = missing.rpartition("/")
    options = ", ".join(err.options or [])
    if group:
        return f"{group}={option}: no such {group} config; valid {group} options: {options}"
    return f"config {missing!r} not found ({str(err).splitlines()[0]})"


def _hydra_message(err: HydraException, overrides: list[str]) -> str:
    text = str(err)
    match = re.match(r"Could not (?:override|append to|delete from) '([^']+)'", text)
    if match:
        key = match.group(1)
        parent, _, name = key.rpartition(".")
        valid = _keys_at(parent, [o for o in overrides if _override_key(o) != key])
        where = f"{parent} keys" if parent else "top-level keys"
        cause = str(err.__cause__ or "").splitlines()[0] if err.__cause__ else ""
        if "not in struct" in cause or "Key" in cause or not cause:
            return f"unknown key {key}; valid {where}: {valid}"
        return f"cannot override {key}: {cause}"
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _override_key(override: str) -> str:
    return override.lstrip("+~").partition("=")[0]


def _keys_at(parent: str, overrides: list[str]) -> str:
    try:
        cfg = _compose(overrides)
        node = OmegaConf.select(cfg, parent) if parent else cfg
        if not isinstance(node, DictConfig):
            return "?"
        return ", ".join(sorted(str(k) for k in node))
    except (HydraException, OmegaConfBaseException):
        return "?"
