"""Planning heads: CEM (PlaNet), MPPI (TD-MPC2's temperature-weighted elites) and random shooting,
over a learned world model (or any model with its `imagine`).

    planner = Planner(world_model, act_spec, PlannerConfig(method="cem"))
    action, plan = planner.plan(start, prev_plan, is_first)  # State [B] -> [B, A], [H, B, A]
    agent = PlannerAgent(obs_spec, act_spec, device, world_model=wm_or_config, method="mppi", ...)

One plan, for B envs at once: the action-sequence distribution starts from the previous plan
shifted by one step (warm start; reset where is_first), then each of `iterations` rounds scores
N candidates per env by imagining them from the env's filtered state (the world model's predicted
rewards and continues, plus a learned value at the horizon when given) and refits the distribution
to the top K (CEM: their mean and std; MPPI: softmax(temperature * return)-weighted; random
shooting: one round of uniform candidates, keep the best). The candidates are: actor proposals
(when an actor is attached, TD-MPC2's policy prior), the current plan itself, and samples.
The acted action is the plan's first step. Every shape is static and nothing branches on tensor
values, so the whole plan (all iterations) traces into one graph; `compile` compiles one refit
iteration (H imagination steps), which compiles ~10x faster than the whole unrolled plan. The math
lives in worldmodels/objectives/planning.py.

`PlannerAgent` is a head like any other (PlaNet): it owns a world model trained online on replayed
sequences and acts by filtering o_t into s_t and planning from s_t. `world_model` is a built world
model (models/base.py) or its config node (configs/world_model/, built by models/build.py); the
hyperparameters are the `PlannerConfig` fields and the `PlannerAgentConfig` fields below; unknown
names fail with the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from worldmodels.agents.base import ActMode, Agent, DataSpec
from worldmodels.envs.spaces import ActSpec, ObsSpec
from worldmodels.models.base import Policy, State, WorldModelBase, plain_specs
from worldmodels.models.build import own_world_model
from worldmodels.models.optim import autocast
from worldmodels.models.options import check_options
from worldmodels.objectives import planning

PLANNERS = ("cem", "mppi", "random_shooting")
#: Seed of the sampling noise in "eval" mode: eval plans are a deterministic function of the input.
EVAL_SEED = 0

ValueFn = Callable[[torch.Tensor], torch.Tensor]  # feat [N, F] -> value [N]


@dataclass
class PlannerConfig:
    """Planner hyperparameters (defaults: PlaNet's CEM)."""

    method: str = "cem"  # cem | mppi | random_shooting
    horizon: int = 12  # H
    candidates: int = 1000  # N per env, proposals and the current plan included
    iterations: int = 10  # refits per plan (random shooting: 1)
    elites: int = 100  # K
    init_std: float = 1.0
    min_std: float = 0.0
    max_std: float = 2.0
    temperature: float = 0.5  # MPPI: weights softmax(temperature * return)
    gamma: float = 0.997  # discount of the planning return (1.0: PlaNet's plain sum)
    warm_start: bool = True
    actor_candidates: int = 0  # proposals from an attached actor (TD-MPC2: 24)
    terminal_value: bool = False  # add gamma^H V(s_H) from an attached value

    def __post_init__(self) -> None:
        if self.method not in PLANNERS:
            raise ValueError(
                f"unknown planner method {self.method!r}; valid: {', '.join(PLANNERS)}"
            )
        for name in ("horizon", "candidates", "iterations", "elites"):
            if getattr(self, name) < 1:
                raise ValueError(f"planner {name} must be >= 1, got {getattr(self, name)}")
        if self.actor_candidates < 0 or self.candidates < self.actor_candidates + 2:
            raise ValueError(
                f"planner candidates ({self.candidates}) must exceed actor_candidates "
                f"({self.actor_candidates}) + 1 (the current plan is a candidate too)"
            )
        if self.elites > self.candidates:
            raise ValueError(
                f"planner elites ({self.elites}) must be <= candidates ({self.candidates})"
            )
        if not 0.0 <= self.min_std <= self.max_std:
            raise ValueError(
                f"planner stds need 0 <= min_std <= max_std, got {self.min_std}, {self.max_std}"
            )


PLANNER_KEYS = tuple(f.name for f in fields(PlannerConfig))


COMPILE_SCOPES = ("iteration", "plan")


class Planner:
    """Sampling-based MPC over `model`; see the module docstring. `actor` (used when
    cfg.actor_candidates > 0) proposes trajectories, `value` (used when cfg.terminal_value)
    closes the return. `compile_mode` (a torch.compile mode: "default", "reduce-overhead", ...)
    compiles one refit iteration (`compile_scope="iteration"`: a graph of H imagination steps,
    replayed `iterations` times) or the whole plan ("plan": one graph, but `iterations` times
    larger to compile: ~10 min on a CPU at PlaNet's setting)."""

    def __init__(
        self,
        model: WorldModelBase,
        act_spec: ActSpec,
        cfg: PlannerConfig,
        actor: Policy | None = None,
        value: ValueFn | None = None,
        compile_mode: str | None = None,
        compile_scope: str = "iteration",
    ):
        if compile_scope not in COMPILE_SCOPES:
            raise ValueError(f"unknown compile_scope {compile_scope!r}; valid: iteration, plan")
        self.model, self.act_spec, self.cfg = model, act_spec, cfg
        self.actor = actor if cfg.actor_candidates > 0 else None
        self.value = value if cfg.terminal_value else None
        self.proposals = cfg.actor_candidates if self.actor is not None else 0
        self.iterations = 1 if cfg.method == "random_shooting" else cfg.iterations
        self._plan: Callable[..., tuple[torch.Tensor, torch.Tensor]] = self._plan_eager
        self._iterate: Callable[..., tuple[torch.Tensor, torch.Tensor]] = self._iterate_eager
        if compile_mode is not None and compile_scope == "plan":
            self._plan = torch.compile(self._plan_eager, dynamic=False, mode=compile_mode)
        elif compile_mode is not None:
            self._iterate = torch.compile(self._iterate_eager, dynamic=False, mode=compile_mode)

    def initial_plan(self, batch: int, device: torch.device | str) -> torch.Tensor:
        """The uninformed plan [H, B, A] (zeros, or uniform probabilities for discrete actions)."""
        cfg, a = self.cfg, self.act_spec
        return planning.initial_mean(cfg.horizon, batch, a.dim, a.discrete, torch.device(device))

    def plan(
        self, start: State, prev_plan: torch.Tensor, is_first: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Plan from states `start` [B] with the previous plan [H, B, A] (ignored where is_first
        [B] or without warm start). Returns the first action [B, A] and the new plan [H, B, A]."""
        b = is_first.shape[0]
        want = (self.cfg.horizon, b, self.act_spec.dim)
        if tuple(prev_plan.shape) != want:
            raise ValueError(
                f"prev_plan must be [H, B, A] = {list(want)}, got {list(prev_plan.shape)}"
            )
        action, plan = self._plan(start, prev_plan, is_first)
        # Copies: outputs of a CUDA-graph replay are overwritten by the next replay.
        return action.clone(), plan.clone()

    def _plan_eager(
        self, start: State, prev_plan: torch.Tensor, is_first: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, discrete = self.cfg, self.act_spec.discrete
        n, b, device = cfg.candidates, is_first.shape[0], prev_plan.device
        with autocast(device):
            init = planning.initial_mean(cfg.horizon, b, self.act_spec.dim, discrete, device)
            mean = (
                planning.shift_plan(prev_plan.float(), init, is_first) if cfg.warm_start else init
            )
            std = torch.full_like(mean, cfg.init_std)
            start_n = {k: v.repeat_interleave(n, 0) for k, v in start.items()}  # [B*N]
            fixed = self._propose(start, b)  # [H, B, P, A] or None
            for _ in range(self.iterations):
                mean, std = self._iterate(mean, std, start_n, fixed)
            action = planning.mode_action(mean[0], discrete)  # [B, A]
        return action.float(), mean.float()

    def _iterate_eager(
        self, mean: torch.Tensor, std: torch.Tensor, start_n: State, fixed: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One round: candidates [H, B, N, A] around (mean, std) [H, B, A], scored from the
        repeated starts [B*N], refit to the elites."""
        cfg, discrete = self.cfg, self.act_spec.discrete
        h, b, a = mean.shape
        samples = cfg.candidates - self.proposals - 1
        with autocast(mean.device):
            if cfg.method == "random_shooting":
                drawn = planning.uniform_candidates(h, b, samples, a, discrete, mean.device)
            else:
                drawn = planning.sample_candidates(mean, std, samples, discrete)
            parts = [planning.mode_action(mean, discrete).unsqueeze(2), drawn]
            cand = torch.cat(parts if fixed is None else [fixed, *parts], 2)  # [H, B, N, A]
            ret = self._score(start_n, cand)  # [B, N]
            elites, elite_ret = planning.select_elites(cand, ret, cfg.elites)
            if cfg.method == "cem":
                return planning.cem_refit(elites, cfg.min_std, cfg.max_std, discrete)
            if cfg.method == "mppi":
                return planning.mppi_refit(
                    elites, elite_ret, cfg.temperature, cfg.min_std, cfg.max_std, discrete
                )
            return elites[:, :, 0], std  # random shooting: the plan is the best sequence found

    def _propose(self, start: State, b: int) -> torch.Tensor | None:
        """Trajectories of the attached actor [H, B, P, A], imagined from each env's state."""
        if self.actor is None:
            return None
        p, h = self.proposals, self.cfg.horizon
        start_p = {k: v.repeat_interleave(p, 0) for k, v in start.items()}  # [B*P]
        actions = self.model.imagine(start_p, self.actor, h).action  # [H, B*P, A]
        if not self.act_spec.discrete:
            actions = actions.clamp(-1.0, 1.0)
        return actions.float().reshape(h, b, p, -1)

    def _score(self, start_n: State, cand: torch.Tensor) -> torch.Tensor:
        """Planning returns [B, N] of candidates [H, B, N, A] from the repeated starts [B*N]."""
        h, b, n, a = cand.shape
        roll = self.model.imagine(start_n, cand.reshape(h, b * n, a), h)
        value = self.value(roll.feat[-1]).float() if self.value is not None else None  # [B*N]
        ret = planning.planning_return(
            roll.reward.float(), roll.cont.float(), self.cfg.gamma, value
        )
        return ret.view(b, n)


# ---- the agent ---------------------------------------------------------------------------------


@dataclass
class PlannerAgentConfig:
    """Data, model optimization and exploration of the online planner agent (PlaNet)."""

    batch_size: int = 16  # B sequences per world-model update
    batch_length: int = 64  # T rows per sequence
    model_lr: float = 1e-4
    model_eps: float = 1e-8
    model_clip: float = 1000.0
    explore_noise: float = 0.3  # PlaNet: N(0, 0.3) on continuous actions; discrete: epsilon
    compile: bool = False  # torch.compile a plan iteration (the world model: its own `compile`)


AGENT_KEYS = tuple(f.name for f in fields(PlannerAgentConfig))


class PlannerAgent(Agent):
    """A world model trained online on sequences + a planner that acts through it (PlaNet).

    `world_model` is a built world model (e.g. a trained one, from world_model.pt) or its config
    node; `attach(actor, value)` adds proposals and a terminal value (another agent's
    `planning_prior`). Acting state: (posterior [B], previous action [B, A], plan [H, B, A]).
    """

    def __init__(
        self,
        obs_spec: ObsSpec,
        act_spec: ActSpec,
        device: str | torch.device = "cpu",
        world_model: WorldModelBase | Mapping[str, Any] | None = None,
        **hparams: Any,
    ):
        obs_spec, act_spec = plain_specs(obs_spec, act_spec)
        super().__init__(obs_spec, act_spec, device)
        check_options("PlannerAgent", hparams, {*PLANNER_KEYS, *AGENT_KEYS}, "agent.")
        self.cfg = cfg = PlannerAgentConfig(**{k: v for k, v in hparams.items() if k in AGENT_KEYS})
        self.planner_cfg = PlannerConfig(**{k: v for k, v in hparams.items() if k in PLANNER_KEYS})
        self.world_model: WorldModelBase = own_world_model(
            world_model, obs_spec, act_spec, self.device, "PlannerAgent"
        )
        self.model_opt = self.world_model.make_optimizer(cfg.model_lr, cfg.model_eps)
        self.data = DataSpec("sequences", batch=cfg.batch_size, length=cfg.batch_length)
        self.attach()
        self._updates = 0

    def attach(self, actor: Policy | None = None, value: ValueFn | None = None) -> None:
        """(Re)build the planner with an actor for proposals and a value for the horizon (each
        used only when the planner config asks: actor_candidates > 0, terminal_value)."""
        mode = "default" if self.cfg.compile else None
        self.planner = Planner(
            self.world_model, self.act_spec, self.planner_cfg, actor, value, mode
        )

    # ---- acting ------------------------------------------------------------------------------
    @torch.no_grad()
    def init_state(self, batch_size: int) -> tuple[State, torch.Tensor, torch.Tensor]:
        """(RSSM state [B], previous action [B, A] = 0, uninformed plan [H, B, A])."""
        latent = self.world_model.initial(batch_size)
        prev = torch.zeros(batch_size, self.act_spec.dim, device=self.device)
        return latent, prev, self.planner.initial_plan(batch_size, self.device)

    @torch.no_grad()
    def act(
        self, obs: dict[str, torch.Tensor], state: Any, mode: ActMode
    ) -> tuple[torch.Tensor, Any]:
        """Filter o_t into s_t (reset where is_first), plan from s_t, act with the plan's first
        step; "explore" adds PlaNet's action noise, "eval" filters and plans with fixed sampling
        noise (a deterministic policy). Returns float32 actions [B, A] and (s_t, a_t, plan)."""
        if mode not in ("explore", "eval"):
            raise ValueError(f"unknown act mode {mode!r}; valid: explore, eval")
        is_first = obs["is_first"]
        if state is None:
            state = self.init_state(is_first.shape[0])
        latent, prev_action, plan = state
        with self._fixed_noise() if mode == "eval" else nullcontext():
            with autocast(self.device):
                latent, _ = self.world_model.observe(latent, obs, prev_action, is_first)
            action, plan = self.planner.plan(latent, plan, is_first)
        if mode == "explore":
            action = self._explore(action)
        return action, (latent, action, plan)

    @contextmanager
    def _fixed_noise(self) -> Iterator[None]:
        cuda = (
            [self.device.index or torch.cuda.current_device()] if self.device.type == "cuda" else []
        )
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(EVAL_SEED)
            yield

    def _explore(self, action: torch.Tensor) -> torch.Tensor:
        noise = self.cfg.explore_noise
        if not self.act_spec.discrete:
            return (action + noise * torch.randn_like(action)).clamp(-1.0, 1.0)
        uniform = planning.gumbel_onehot(torch.zeros_like(action))
        swap = torch.rand(action.shape[0], 1, device=action.device) < noise
        return torch.where(swap, uniform, action)

    # ---- learning ----------------------------------------------------------------------------
    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One world-model step on a [B, T] sequences batch; 0-dim "wm/..." metrics."""
        metrics, _ = self.world_model.train_step(batch, self.model_opt, self.cfg.model_clip)
        self._updates += 1
        return metrics

    # ---- persistence -----------------------------------------------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        """Planner and agent config as one plain dict."""
        return {**asdict(self.planner_cfg), **asdict(self.cfg)}

    def state_dict(self) -> dict[str, Any]:
        return {
            "world_model": self.world_model.state_dict(),
            "model_opt": self.model_opt.state_dict(),
            "counters": {"updates": self._updates},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.world_model.load_state_dict(state["world_model"])
        self.model_opt.load_state_dict(state["model_opt"])
        self._updates = int(state["counters"]["updates"])
