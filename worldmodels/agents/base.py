"""The Agent contract every policy-learning head implements (random, Dreamer, PPO, SAC, TD3, DQN,
planners). The training loop only talks to this interface; it never imports an agent class.

An agent is built from its config node by `build_agent(cfg.agent, obs_spec, act_spec, device)`
with plain arguments; it never reads Hydra config itself.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, open_dict

from worldmodels.envs.spaces import ActSpec, ArraySpec, ObsSpec, sample_actions
from worldmodels.errors import UserError
from worldmodels.models.base import WorldModelBase
from worldmodels.models.build import FILE as WORLD_MODEL_FILE
from worldmodels.models.build import save_world_model, world_model_class
from worldmodels.models.options import UnknownOptionError, check_options

DataKind = Literal["sequences", "transitions", "rollouts", "none"]
ActMode = Literal["explore", "eval"]


@dataclass(frozen=True)
class DataSpec:
    """What an agent's `update` consumes, so the loop can sample it from the shared stores.

    - "sequences": `replay.sample_sequences(batch, length)` -> rows [B, T, ...] (Dreamer, planners).
    - "transitions": `replay.sample_transitions(batch, n_step, gamma)` (SAC, TD3, DQN).
    - "rollouts": the on-policy rollout buffer of `length` steps per env (PPO); `batch` unused.
    - "none": never updated (random).
    """

    kind: DataKind
    batch: int = 0
    length: int = 1
    n_step: int = 1
    gamma: float = 0.99
    #: sequences: the first `context` of the `length` rows only give the start state (replay
    #: context); they do not count as replayed rows
    context: int = 0
    #: per-row entries the agent stores with each row it acts on (`Agent.row_extras`), by key
    extras: Mapping[str, ArraySpec] = field(default_factory=dict)
    #: act with the agent, not at random, while the replay prefills (no updates until it is done)
    prefill_policy: bool = False

    @property
    def replayed_per_update(self) -> int:
        """Rows one update consumes: the unit of the train ratio (DreamerV3's definition)."""
        if self.kind == "sequences":
            return self.batch * (self.length - self.context)
        return max(self.batch, 1)


@dataclass(frozen=True)
class PlanningPrior:
    """What an agent offers a planner on its world model (TD-MPC2's recipe): a policy that
    proposes actions and a value that closes the return at the horizon, both on the world
    model's features."""

    actor: Callable[[torch.Tensor], torch.Tensor]  # feat [N, F] -> action [N, A]
    value: Callable[[torch.Tensor], torch.Tensor]  # feat [N, F] -> value [N]


class Agent(ABC):
    """A policy-learning head.

    Observations passed to `act` are the rows' observation dict as torch tensors on the agent's
    device, batched over envs: "image" uint8 [B, H, W, C], "vector" float32 [B, D], plus
    "is_first" bool [B] (so recurrent agents reset their state at episode starts).
    `act` returns float32 actions [B, A] (one-hot for discrete spaces) and the next state.
    Recurrent state is passed explicitly: no hidden mutable state between calls.
    """

    #: What `update` consumes; set in __init__ (batch sizes come from config).
    data: DataSpec
    #: The world model the agent owns and trains, if any (Dreamer, planners, latent-input heads).
    world_model: WorldModelBase | None = None

    def __init__(self, obs_spec: ObsSpec, act_spec: ActSpec, device: str | torch.device = "cpu"):
        self.obs_spec = obs_spec
        self.act_spec = act_spec
        self.device = torch.device(device)

    def init_state(self, batch_size: int) -> Any:
        """Initial recurrent state for `batch_size` envs (None for memoryless agents)."""
        return None

    @abstractmethod
    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        """Pick actions [B, A] for a batch of observations; `mode="eval"` is deterministic."""

    def update(self, batch: Any) -> dict[str, torch.Tensor]:
        """One gradient step (or one PPO epoch set) on `batch`; returns namespaced metrics as
        0-dim tensors (read on the host once per log interval, never inside the update)."""
        return {}

    def random_action(
        self, batch_size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """A uniformly random action [B, A] from `rng` (a replay's prefill) and the per-row
        entries to store with it: zeros, an initial state (no policy acted)."""
        action = sample_actions(self.act_spec, batch_size, rng)
        extras = {k: np.zeros((batch_size, *s.shape), s.dtype) for k, s in self.data.extras.items()}
        return action, extras

    def row_extras(self, state: Any) -> dict[str, torch.Tensor]:
        """Entries [B, ...] to store with the rows the agent just acted on (keys and shapes as
        `data.extras`), given the state `act` returned; {} when `data.extras` is empty."""
        return {}

    def replay_writeback(self) -> dict[str, torch.Tensor] | None:
        """Fresh values [B, T, ...] of `data.extras` for the rows of the last sequences batch
        (the agent recomputed them in `update`), for the loop to write into the replay; None:
        nothing to write."""
        return None

    def video_prediction(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Optional diagnostic: uint8 frames [T, H, W', C] (e.g. truth / model / error of an
        open-loop prediction on a sequences batch), logged at evaluation time. None: no video.
        By default the world model's open-loop prediction (5 context frames), when it draws one;
        called only with a sequences batch."""
        wm = self.world_model
        if wm is None or not wm.can_predict_video:
            return None
        return wm.video_prediction(batch, context=min(5, batch["is_first"].shape[1] - 1))

    def planning_prior(self) -> PlanningPrior | None:
        """The actor proposal and terminal value this agent offers a planner on its world model
        (worldmodels.compare's mppi_actor_value); None: it offers none."""
        return None

    def export(self, run_dir: Path) -> None:
        """Write what the agent owns that other tools read without the checkpoint, next to it in
        `run_dir` (called after every checkpoint). By default RUN_DIR/world_model.pt when the
        agent has a world model (planners and latent heads load it; models/build.py)."""
        if self.world_model is not None:
            save_world_model(Path(run_dir) / WORLD_MODEL_FILE, self.world_model)

    def observe_metrics(self) -> dict[str, float]:
        """Cheap host-side metrics to log now and then (e.g. an epsilon schedule)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: networks, optimizers, schedules, counters."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Inverse of `state_dict`."""

    def config_signature(self) -> dict[str, Any]:
        """Shapes of all parameters, used to reject a checkpoint from a different model config."""
        sig: dict[str, Any] = {}
        for name, value in self.state_dict().items():
            if isinstance(value, dict):
                for k, v in value.items():
                    if isinstance(v, torch.Tensor):
                        sig[f"{name}.{k}"] = tuple(v.shape)
        return sig


def check_agent_options(agent_cfg: Mapping[str, Any]) -> None:
    """UserError (one line, the valid options listed) when the config node names options its
    `_target_` class does not take; needs no env, so it runs before any is built."""
    target = agent_cfg.get("_target_")
    if not isinstance(target, str) or not target:
        raise UserError(
            "agent._target_ must name an Agent class, e.g. worldmodels.agents.sac.SACAgent"
        )
    try:
        cls = hydra.utils.get_object(target)
    except Exception as err:  # hydra wraps import errors in several types
        raise UserError(f"agent._target_={target!r} cannot be imported ({err})") from err
    params = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    valid = set(params) - {"self", "obs_spec", "act_spec", "device"}
    given = [str(k) for k in agent_cfg if not str(k).startswith("_")]
    try:
        check_options(cls.__name__, given, valid, "agent.", "agent")
    except UnknownOptionError as err:
        raise UserError(str(err)) from err


def _world_model_hint(agent_cfg: Any, err: UnknownOptionError) -> str:
    """A pointer to agent.world_model when unknown agent options are world-model options (a
    config written before the world model had its own node, or an old command line)."""
    node = agent_cfg.get("world_model")
    target = node.get("_target_") if isinstance(node, Mapping) else None
    if not isinstance(target, str):
        return ""
    try:
        options = set(inspect.signature(world_model_class(target)).parameters)
    except ValueError:
        return ""
    moved = sorted(set(err.unknown) & options)
    if not moved:
        return ""
    return (
        f"; {moved} are world-model options: set them as agent.world_model.{moved[0]}=... "
        "(configs/world_model/; a run dir from before this layout cannot be resumed)"
    )


def build_agent(
    agent_cfg: Any, obs_spec: ObsSpec, act_spec: ActSpec, device: str | torch.device
) -> Agent:
    """The agent a config node (`_target_` + arguments, DictConfig or dict) describes, for these
    env specs. The specs go in after instantiation (`_partial_`): keyword arguments given to
    `hydra.utils.instantiate` itself are merged into the config, so the agent would get OmegaConf
    copies of the spec dataclasses, whose every attribute read costs microseconds in `act`.
    `train_ratio` is the loop's (an agent config states its own, worldmodels.train reads it):
    it is not passed to the agent."""
    if "train_ratio" in agent_cfg:
        if isinstance(agent_cfg, DictConfig):
            agent_cfg = agent_cfg.copy()
            with open_dict(agent_cfg):
                del agent_cfg["train_ratio"]
        else:
            agent_cfg = {k: v for k, v in agent_cfg.items() if k != "train_ratio"}
    check_agent_options(agent_cfg)
    # not recursive: a nested `_target_` (agent.world_model) needs the specs, the agent builds it
    # (models/build.py) when it uses one
    factory = hydra.utils.instantiate(agent_cfg, _partial_=True, _recursive_=False)
    try:
        agent = factory(obs_spec=obs_spec, act_spec=act_spec, device=device)
    except UnknownOptionError as err:
        raise UnknownOptionError(str(err) + _world_model_hint(agent_cfg, err), err.unknown) from err
    if not isinstance(agent, Agent):
        raise ValueError(
            f"agent config built {type(agent).__name__}, which is not a worldmodels Agent "
            "(its _target_ must be an Agent class, e.g. worldmodels.agents.sac.SACAgent)"
        )
    return agent
