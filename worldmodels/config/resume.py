"""What a resumed run may change, and where `resume=` points.

A resume compares the checkpoint's config with the command's, key by key (flattened:
`trainer.steps`, `agent.actor_lr`):

- SAFE keys (budget, clocks, logging, device, run control) take the command's value, and the
  change is printed and recorded in RUN_DIR/resumes.jsonl;
- optimizer settings (`agent.*lr`, `*eps`, `*clip`, `max_grad_norm`) change only with
  `resume_new_optimizer_settings=true` (also recorded): the way to continue from the last good
  checkpoint of a run stopped by a non-finite loss with a corrected learning rate;
- every other key (agent, env, model sizes, replay, seed, data collection) is refused, naming it:
  a run that continues under another setting is a different experiment.

`resume=` takes `true` (this command's run dir), a run dir path (quotes not needed even when the
path holds `=` or `,`: `quote_path_overrides` adds them before Hydra parses the command line), or
`last` (the newest run under ./runs).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from worldmodels.errors import UserError

#: Exact keys a resume may change.
SAFE_KEYS = frozenset(
    {
        "trainer.steps",
        "trainer.stop_after",
        "trainer.log_every",
        "trainer.eval_every",
        "trainer.eval_episodes",
        "trainer.checkpoint_every",
        "trainer.save_replay",
        "trainer.async_envs",
        "trainer.param_norm_limit",
        "device",
        "resume",
        "run_dir",
        "resume_without_replay",
        "resume_new_optimizer_settings",
        "agent.compile",
    }
)
#: Key prefixes a resume may change.
SAFE_PREFIXES = ("logger.",)
#: Keys that mean "an explicit flag was given": never recorded as changes of the run.
FLAG_KEYS = frozenset({"resume", "run_dir", "resume_without_replay",
                       "resume_new_optimizer_settings"})  # fmt: skip
OPTIMIZER_FLAG = "resume_new_optimizer_settings"
#: What one command asks of its invocation only; resume=RUN_DIR starts from these defaults.
INVOCATION_DEFAULTS: dict[str, Any] = {
    "trainer.stop_after": None,
    "resume_without_replay": False,
    OPTIMIZER_FLAG: False,
}
_RESUME_TRUE = (True, "true", "True")
_RESUME_FALSE = (False, None, "false", "False")
#: Where `resume=last` looks (Hydra's default run dirs are runs/<overrides>).
RUNS_ROOT = Path("runs")


def is_optimizer_key(key: str) -> bool:
    """agent.actor_lr, agent.model_eps, agent.latent.clip, agent.max_grad_norm, ..."""
    if not key.startswith("agent."):
        return False
    name = key.rsplit(".", 1)[-1]
    return name in ("lr", "eps", "clip", "max_grad_norm") or name.endswith(("_lr", "_eps", "_clip"))


def is_safe_key(key: str) -> bool:
    return key in SAFE_KEYS or key.startswith(SAFE_PREFIXES)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; empty mappings stay as leaves."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


_MISSING = object()


def config_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, tuple]:
    """{key: (value in the checkpoint, value now)} for every flattened key that differs; a key
    absent on one side shows as the string '<absent>'."""
    a, b = flatten(saved), flatten(current)
    out: dict[str, tuple] = {}
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key, _MISSING), b.get(key, _MISSING)
        if old != new:
            out[key] = tuple("<absent>" if v is _MISSING else v for v in (old, new))
    return out


def check_resume_changes(changes: Mapping[str, tuple], allow_optimizer: bool) -> dict[str, tuple]:
    """The changes a resume applies (flags left out); raises UserError on any it must refuse."""
    refused = [k for k in changes if not is_safe_key(k) and not is_optimizer_key(k)]
    if refused:
        shown = "; ".join(
            f"{k}: {changes[k][0]!r} in the checkpoint vs {changes[k][1]!r} now"
            for k in refused[:4]
        )
        more = f" (+{len(refused) - 4} more)" if len(refused) > 4 else ""
        raise UserError(
            f"resume cannot change {', '.join(refused[:4])}{more} ({shown}): agent, env, model, "
            "replay, seed and data-collection settings are fixed for a run; resume may change "
            "trainer.steps, trainer.stop_after, the trainer clocks, logger.*, device; start a "
            "new run (another run_dir=...) for the rest"
        )
    optim = [k for k in changes if is_optimizer_key(k)]
    if optim and not allow_optimizer:
        shown = "; ".join(f"{k}: {changes[k][0]!r} -> {changes[k][1]!r}" for k in optim)
        raise UserError(
            f"resume with changed optimizer settings ({shown}) needs {OPTIMIZER_FLAG}=true "
            "(the change is then applied and recorded in resumes.jsonl)"
        )
    return {k: v for k, v in changes.items() if k not in FLAG_KEYS}


def record_resume(run_dir: Path, env_frames: int, applied: Mapping[str, tuple],
                  flags: Mapping[str, Any]) -> None:  # fmt: skip
    """Prints the applied changes and appends them to RUN_DIR/resumes.jsonl (one line per
    resume), so a changed budget or learning rate is part of the run's record."""
    for key, (old, new) in applied.items():
        print(f"resume: {key}: {old!r} -> {new!r}", flush=True)
    entry = {
        "time": round(time.time(), 3),
        "env_frames": int(env_frames),
        "changed": {k: [_plain(v[0]), _plain(v[1])] for k, v in applied.items()},
        "flags": {k: _plain(v) for k, v in flags.items()},
    }
    with open(Path(run_dir) / "resumes.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")


def _plain(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool | type(None)) else repr(v)


# ---------------------------------------------------------------------------- resume=...
def resume_kind(value: Any) -> str:
    """'no' | 'here' (resume=true) | 'last' | 'path'."""
    if value in _RESUME_FALSE:
        return "no"
    if value in _RESUME_TRUE:
        return "here"
    if value == "last":
        return "last"
    return "path"


def last_run_dir(root: Path = RUNS_ROOT) -> Path:
    """The run under `root` started last (status.json's "started", else its mtime)."""
    best: tuple[float, Path] | None = None
    for status in root.glob("**/status.json"):
        try:
            started = float(json.loads(status.read_text()).get("started", 0.0))
        except (OSError, ValueError, TypeError, AttributeError):
            started = 0.0
        key = (started or status.stat().st_mtime, status.parent)
        if best is None or key > best:
            best = key
    if best is None:
        raise UserError(f"resume=last: no run found under {root}/ (a run dir holds status.json)")
    print(f"resume=last: {best[1]}", flush=True)
    return best[1]


def resumed_dir(value: Any) -> Path | None:
    """The run dir `resume=` names (None for true/false: the command's own run dir)."""
    kind = resume_kind(value)
    if kind == "last":
        return last_run_dir()
    if kind == "path":
        return Path(str(value))
    return None


_RUN_FLAGS = re.compile(r"^(~|\+{1,2})?(resume|run_dir|hydra\.|hydra/)")


def command_overrides(overrides: list[str]) -> list[str]:
    """The overrides that say what the run is (resume, run_dir and Hydra's own left out)."""
    return [o for o in overrides if not _RUN_FLAGS.match(o) or o.startswith("resume_")]


def config_of_run(run_dir: Path, overrides: list[str],
                  compose: Callable[[list[str]], DictConfig]) -> DictConfig:  # fmt: skip
    """resume=RUN_DIR: the run's saved config plus what this command's `overrides` change.

    The changes are found by composing the run's own overrides with and without the new ones,
    so a group override (`agent=td3`, `trainer=debug`) shows up as the keys it changes; the
    resume check then applies or refuses each of them.
    """
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise UserError(
            f"resume={run_dir}: no config.yaml there; valid: true, false, last or a run dir "
            "(one a run wrote: it holds config.yaml)"
        )
    saved = OmegaConf.load(path)
    assert isinstance(saved, DictConfig)
    # per-invocation settings are not the run's: each command states its own (or the default)
    for key, default in INVOCATION_DEFAULTS.items():
        OmegaConf.update(saved, key, default, force_add=True)
    new = command_overrides(overrides)
    if new:
        old_path = run_dir / "overrides.yaml"
        old: Any = OmegaConf.load(old_path) if old_path.is_file() else []
        base = command_overrides([str(o) for o in old])
        before: Any = OmegaConf.to_container(compose(base), resolve=True)
        after: Any = OmegaConf.to_container(compose([*base, *new]), resolve=True)
        for key, (_, value) in config_changes(before, after).items():
            if value == "<absent>":
                continue
            OmegaConf.update(saved, key, value, force_add=True, merge=False)
    saved.resume = True
    saved.run_dir = str(run_dir)
    return saved


def pin_resume_dir(args: list[str]) -> list[str]:
    """Command-line args with `resume=last` replaced by the run dir it means, and Hydra's run dir
    pinned to the resumed one (else Hydra would create runs/<these overrides> for nothing)."""
    out = list(args)
    for n, arg in enumerate(args):
        key, _, value = arg.partition("=")
        if key != "resume" or resume_kind(_unquote(value)) not in ("last", "path"):
            continue
        where = last_run_dir() if _unquote(value) == "last" else Path(_unquote(value))
        out[n : n + 1] = quote_path_overrides([f"resume={where}", f"run_dir={where}"])
        if not any(a.startswith("hydra.run.dir=") for a in args):
            out.append("hydra.run.dir=" + quote_path_overrides([f"resume={where}"])[0][7:])
    return out


def _unquote(value: str) -> Any:
    if value[:1] in ("'", '"') and value[-1:] == value[:1]:
        return value[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    return {"true": True, "false": False}.get(value.lower(), value)


_NEEDS_QUOTES = re.compile(r"[=,\[\]{}()'\" ]")


def quote_path_overrides(
    args: list[str], keys: tuple[str, ...] = ("resume", "run_dir")
) -> list[str]:
    """`resume=runs/env.task=walker_walk` -> `resume='runs/env.task=walker_walk'` (the same for
    the other path `keys`), so run dirs named after their overrides need no shell quoting."""
    out = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and key in keys and value[:1] not in ("'", '"') and _NEEDS_QUOTES.search(value):
            value = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
            arg = f"{key}={value}"
        out.append(arg)
    return out
