"""Typed config schema, checked right after composition, before any env or agent is built.

One table per group (top level, trainer, env, replay, logger, size) names every key with its type
and range; the agent group is checked by key name (`AGENT_RULES`: `gamma` in (0, 1], `*_lr` > 0,
...) whatever agent it is, so agents may add keys freely; their unknown-option check lives in
`worldmodels.agents.base.check_agent_options`. Every problem is a `UserError` of one line that
names the key in full (`trainer.steps`) and the valid values.

    validate(cfg)   # raises UserError; returns nothing
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from worldmodels.errors import UserError
from worldmodels.logger.build import check_logger_config


@dataclass(frozen=True)
class Field:
    """One key's type and range. `kind`: int | float | bool | str | choice | path | any."""

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low < x instead of low <= x
    choices: tuple[str, ...] = ()
    nullable: bool = False

    def describe(self) -> str:
        """The valid values in words: 'an integer >= 1', 'a number in (0, 1]', 'one of: a, b'."""
        if self.kind == "bool":
            text = "true or false"
        elif self.kind == "choice":
            text = "one of: " + ", ".join(self.choices)
        elif self.kind in ("str", "path"):
            text = "a non-empty string"
        else:
            noun = "an integer" if self.kind == "int" else "a number"
            if self.low is not None and self.high is not None:
                left = "(" if self.low_open else "["
                text = f"{noun} in {left}{_num(self.low)}, {_num(self.high)}]"
            elif self.low is not None:
                text = f"{noun} {'>' if self.low_open else '>='} {_num(self.low)}"
            else:
                text = noun
        return text + (" or null" if self.nullable else "")

    def check(self, key: str, value: Any) -> None:
        """Raises UserError naming `key` when `value` is not valid."""
        if value is None:
            if self.nullable:
                return
            raise UserError(f"{key} must be {self.describe()}, got null")
        if not self._valid(value):
            raise UserError(f"{key} must be {self.describe()}, got {value!r}")

    def _valid(self, value: Any) -> bool:
        if self.kind == "any":
            return True
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return value in self.choices
        if self.kind in ("str", "path"):
            return isinstance(value, str) and bool(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


INT_POS = Field("int", low=1)
INT_NONNEG = Field("int", low=0)
BOOL = Field("bool")

TOP: dict[str, Field] = {
    "seed": INT_NONNEG,
    "device": Field("str"),  # auto | cpu | cuda[:N]: checked where the device is resolved
    "resume": Field("str"),  # true | false | last | a run dir: see worldmodels.config.resume
    "run_dir": Field("path", nullable=True),
    "resume_without_replay": BOOL,
    "resume_new_optimizer_settings": BOOL,
    # set by presets (configs/preset/): defaults the size and trainer groups read
    "preset_size": Field("any", nullable=True),
    "preset_prefill": Field("int", low=0, nullable=True),
    "preset_num_envs": Field("int", low=1, nullable=True),
    "preset_replay_capacity": Field("int", low=1, nullable=True),
    # set by world-model ablations (configs/ablation/): merged into the agent's world model
    "ablation_world_model": Field("any", nullable=True),
}
#: Groups whose keys this module checks with a table (the agent group has AGENT_RULES).
GROUPS = ("env", "agent", "replay", "size", "trainer", "logger")

TRAINER: dict[str, Field] = {
    "steps": INT_POS,
    "prefill": INT_NONNEG,
    # null: the agent's own train ratio (agent.train_ratio), when the agent states one
    "train_ratio": Field("float", low=0, nullable=True),
    "num_envs": INT_POS,
    "async_envs": BOOL,
    "time_limit": Field("int", low=1, nullable=True),
    "log_every": INT_NONNEG,
    "eval_every": INT_NONNEG,
    "eval_episodes": INT_POS,
    "checkpoint_every": INT_NONNEG,
    "save_replay": BOOL,
    "stop_after": Field("int", low=1, nullable=True),
    "param_norm_limit": Field("float", low=0, low_open=True),
}
ENV: dict[str, Field] = {
    "suite": Field("choice", choices=("dmc", "gym", "dummy")),
    "task": Field("str"),
    "obs": Field("choice", choices=("pixels", "proprio", "both"), nullable=True),
    "image_size": Field("int", low=4),
    "camera": Field("int", low=0, nullable=True),
    "action_repeat": Field("int", low=1, nullable=True),
    "time_limit": Field("int", low=1, nullable=True),
}
REPLAY: dict[str, Field] = {
    "capacity": INT_POS,
    "sampling": Field("choice", choices=("uniform", "recency")),
    "recency_exponent": Field("float", low=0),
}
#: logger.tensorboard/csv/wandb/mlflow (the backends of configs/logger/) are checked by
#: worldmodels.logger.build.check_logger_config
LOGGER: dict[str, Field] = {
    "tensorboard": BOOL,
    "video": BOOL,
    "progress": BOOL,
    **{backend: Field("any") for backend in ("csv", "wandb", "mlflow")},
}
SIZE: dict[str, Field] = {
    k: INT_POS for k in ("units", "layers", "cnn_depth", "deter", "stoch", "classes", "hidden")
}

_UNIT = Field("float", low=0, high=1)
#: Agent keys by their last name, whatever the agent (and at any depth: agent.latent.lr).
AGENT_RULES: dict[str, Field] = {
    **{
        k: INT_POS
        for k in (
            "units",
            "layers",
            "cnn_depth",
            "deter",
            "stoch",
            "classes",
            "hidden",
            "horizon",
            "batch",
            "batch_size",
            "batch_length",
            "n_step",
            "iterations",
            "candidates",
            "elites",
            "epochs",
            "minibatches",
            "rollout",
            "bins",
            "gru_blocks",
            "trunk_dim",
            "actor_every",
            "policy_delay",
            "target_every",
            "slow_critic_every",
        )
    },  # fmt: skip
    **{
        k: INT_NONNEG
        for k in ("aug_pad", "eps_decay_steps", "anneal_lr_updates", "actor_candidates")
    },  # fmt: skip
    **{k: Field("float", low=0, high=1, low_open=True) for k in ("gamma", "tau", "target_tau")},
    **{
        k: _UNIT
        for k in (
            "lam",
            "unimix",
            "actor_unimix",
            "slow_critic_decay",
            "return_norm_decay",
            "actor_grad_mix",
            "eps_start",
            "eps_end",
        )
    },  # fmt: skip
    **{
        k: Field("float", low=0)
        for k in (
            "free_nats",
            "actor_entropy",
            "ent_coef",
            "vf_coef",
            "explore_noise",
            "policy_noise",
            "noise_clip",
            "slow_reg",
            "min_std",
            "value_clip",
            "init_log_std",
        )
    },  # fmt: skip
    **{
        k: Field("float", low=0, low_open=True)
        for k in (
            "init_alpha",
            "init_std",
            "max_std",
            "temperature",
            "return_norm_limit",
            "max_grad_norm",
        )
    },  # fmt: skip
    **{
        k: BOOL
        for k in (
            "imagination",
            "decoder",
            "cont_head",
            "recurrent",
            "learned_initial",
            "gru_norm",
            "kl_balance",
            "symlog_inputs",
            "return_norm",
            "slow_target",
            "dueling",
            "double",
            "compile",
            "obs_norm",
            "norm_adv",
            "warm_start",
            "terminal_value",
        )
    },  # fmt: skip
}
AGENT_RULES["init_log_std"] = Field("float")  # a log: any sign
AGENT_RULES["train_ratio"] = Field("float", low=0, nullable=True)
_POSITIVE = Field("float", low=0, low_open=True)


def agent_rule(name: str) -> Field | None:
    """The rule for an agent key named `name` (its last component), or None: unchecked here."""
    if name in AGENT_RULES:
        return AGENT_RULES[name]
    # learning rates, Adam epsilons and gradient clips: positive numbers
    if name in ("lr", "eps", "clip") or name.endswith(("_lr", "_eps", "_clip")):
        return _POSITIVE
    return None


def _check_table(group: str, node: Mapping[str, Any], table: Mapping[str, Field],
                 extra_ok: frozenset[str] = frozenset()) -> None:  # fmt: skip
    unknown = sorted(set(node) - set(table) - extra_ok)
    if unknown:
        raise UserError(
            f"unknown key {group}.{unknown[0]}; valid {group} keys: {', '.join(sorted(table))}"
        )
    for key, spec in table.items():
        if key in node:
            spec.check(f"{group}.{key}", node[key])


def _check_agent(node: Mapping[str, Any], prefix: str = "agent") -> None:
    for key, value in node.items():
        full = f"{prefix}.{key}"
        if key == "loss_scales" and isinstance(value, Mapping):
            for term, scale in value.items():
                Field("float", low=0).check(f"{full}.{term}", scale)
        elif isinstance(value, Mapping):
            _check_agent(value, full)
        else:
            rule = agent_rule(str(key))
            if rule is not None:
                rule.check(full, value)


def _check_env_task(env: Mapping[str, Any]) -> None:
    """The task name (dummy and gym: cheap registry look-ups; dm_control names are checked when
    the env is built, which imports MuJoCo)."""
    from worldmodels.envs.make import parse_env_config

    try:
        parse_env_config(dict(env))
    except ValueError as err:
        message = str(err)
        raise UserError(
            message if "env." in message else f"env.task={env.get('task')!r}: {message}"
        ) from err


def trainer_table() -> dict[str, Field]:
    """TRAINER for exactly the fields `TrainerConfig` takes (a field without a rule is only
    required to exist), so a new trainer key needs one line in the dataclass and one here."""
    from worldmodels.training.loop import TrainerConfig

    names = {f.name for f in fields(TrainerConfig)} - {"progress", "video"}
    return {k: TRAINER.get(k, Field("any", nullable=True)) for k in names}


def validate(cfg: Mapping[str, Any]) -> None:
    """Checks a composed, resolved config (a plain dict or a DictConfig): raises UserError."""
    # mappings are config groups (and group-like values such as a preset's `preset_size`) that
    # other modules own; a scalar no one reads is a typo
    unknown = sorted(
        k for k in set(cfg) - set(TOP) - set(GROUPS) if not isinstance(cfg[k], Mapping)
    )
    if unknown:
        raise UserError(
            f"unknown key {unknown[0]}; valid top-level keys: {', '.join(sorted([*TOP, *GROUPS]))}"
        )
    resume = cfg.get("resume")
    if not isinstance(resume, bool | str) or resume == "":
        raise UserError(f"resume must be true, false, last or a run dir, got {resume!r}")
    for key, spec in TOP.items():
        if key in cfg and key != "resume":
            spec.check(key, cfg[key])
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", str(cfg.get("device"))):
        raise UserError(f"device must be auto, cpu, cuda or cuda:N, got {cfg.get('device')!r}")
    for group in GROUPS:
        if not isinstance(cfg.get(group), Mapping):
            raise UserError(f"config group {group} is missing or not a mapping")
    _check_table("trainer", cfg["trainer"], trainer_table())
    _check_table("env", cfg["env"], ENV)
    _check_env_task(cfg["env"])
    _check_table("replay", cfg["replay"], REPLAY)
    _check_table("logger", cfg["logger"], LOGGER)
    check_logger_config(cfg["logger"])
    _check_table("size", cfg["size"], SIZE, extra_ok=frozenset(cfg["size"]))  # sizes may grow
    _check_agent(cfg["agent"])
    trainer = cfg["trainer"]
    if trainer.get("stop_after") is not None and trainer["stop_after"] > trainer["steps"]:
        raise UserError(
            f"trainer.stop_after={trainer['stop_after']} is past trainer.steps={trainer['steps']}"
            "; valid: an integer in [1, trainer.steps] or null"
        )
