"""Every agent through the same contract test (tier 2): built from its Hydra config with tiny sizes,
on vector and 16x16 pixel observations, discrete and continuous actions:

- `act` in both modes: float32 [B, A], finite, in [-1, 1], one-hot for discrete spaces; eval is
  deterministic;
- `update` on a fake batch of the agent's DataSpec kind: 0-dim finite namespaced metrics, finite
  gradients and parameters, parameters change;
- `state_dict` round trip (through torch.save/load, as checkpoints do): identical eval actions, the
  same config signature, and the next update continues identically (optimizers, counters restored);
- heads that cannot drive an action space reject it with a ValueError at construction;
- the world-model contract: an agent's world model is a `WorldModelBase` (or None), `export`
  writes world_model.pt exactly when it has one and the file rebuilds the same model, and
  `planning_prior` is None or a proposal and a value on the world model's features.
"""

from __future__ import annotations

import importlib.util
import io
from typing import Any

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from worldmodels.agents.base import Agent, PlanningPrior, build_agent
from worldmodels.data.rollout import RolloutBuffer
from worldmodels.envs.spaces import ActSpec, ArraySpec, ObsSpec, row_spec
from worldmodels.models.base import WorldModelBase
from worldmodels.models.build import load_world_model
from worldmodels.train import CONFIG_DIR

# Tiny sizes per agent (config overrides), and which action spaces it supports (None: both).
TINY = {
    "random": ([], None),
    "dqn": (
        [
            "agent.units=16",
            "agent.layers=1",
            "agent.cnn_depth=4",
            "agent.trunk_dim=8",
            "agent.batch=8",
        ],
        True,
    ),
    "sac": (
        [
            "agent.units=16",
            "agent.layers=1",
            "agent.cnn_depth=4",
            "agent.trunk_dim=8",
            "agent.batch=8",
        ],
        False,
    ),
    "td3": (
        [
            "agent.units=16",
            "agent.layers=1",
            "agent.cnn_depth=4",
            "agent.trunk_dim=8",
            "agent.batch=8",
        ],
        False,
    ),
    "ppo": (
        [
            "agent.units=16",
            "agent.cnn_depth=4",
            "agent.rollout=6",
            "agent.epochs=2",
            "agent.minibatches=2",
        ],
        None,
    ),
}
# Heads written alongside: included once their module exists.
if importlib.util.find_spec("worldmodels.agents.dreamer") is not None:
    TINY["dreamer"] = (["agent.batch_size=3", "agent.batch_length=6", "agent.horizon=4"], None)
if importlib.util.find_spec("worldmodels.agents.planners") is not None:
    _PLAN = ["agent.batch_size=3", "agent.batch_length=6", "agent.horizon=3", "agent.candidates=8"]
    _PLAN.append("agent.elites=2")
    TINY["cem"] = ([*_PLAN, "agent.iterations=2"], None)
    TINY["mppi"] = ([*_PLAN, "agent.iterations=2"], None)
    TINY["random_shooting"] = (_PLAN, None)
# Latent-input heads: the same agents on world-model features (agents/latent.py).
_LATENT = ["agent.input=latent", "agent.latent.batch_size=2", "agent.latent.batch_length=5"]
TINY["sac_latent"] = ([*TINY["sac"][0], *_LATENT], False)
TINY["ppo_latent"] = ([*TINY["ppo"][0], *_LATENT], None)
AGENT_OF = {"sac_latent": "sac", "ppo_latent": "ppo"}

OBS_SPECS: dict[str, ObsSpec] = {
    "vector": {"vector": ArraySpec((5,), "float32")},
    "pixels": {"image": ArraySpec((16, 16, 3), "uint8")},
}
ACT_SPECS = {"discrete": ActSpec(3, True), "continuous": ActSpec(2, False)}
B = 4  # envs acting at once


def build(name: str, obs_spec: ObsSpec, act_spec: ActSpec, seed: int = 0) -> Agent:
    """The agent from configs/agent/<name>.yaml (size=xs) with the tiny overrides above."""
    torch.manual_seed(seed)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        agent_name = AGENT_OF.get(name, name)
        overrides = [f"agent={agent_name}", "size=xs", *TINY[name][0]]
        cfg = compose(config_name="config", overrides=overrides)
    agent = build_agent(cfg.agent, obs_spec, act_spec, "cpu")
    # the entry point's builder hands the spec dataclasses over (not OmegaConf copies, whose
    # attribute reads cost microseconds on every act)
    assert type(agent.act_spec) is ActSpec and agent.act_spec == act_spec
    assert all(type(v) is ArraySpec for v in agent.obs_spec.values())
    return agent


def fake_obs(
    obs_spec: ObsSpec, lead: tuple[int, ...], gen: torch.Generator
) -> dict[str, torch.Tensor]:
    out = {}
    for k, s in obs_spec.items():
        if s.dtype == "uint8":
            out[k] = torch.randint(0, 256, (*lead, *s.shape), generator=gen, dtype=torch.uint8)
        else:
            out[k] = torch.randn(*lead, *s.shape, generator=gen)
    return out


def fake_actions(act_spec: ActSpec, lead: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    if act_spec.discrete:
        idx = torch.randint(act_spec.dim, lead, generator=gen)
        return torch.nn.functional.one_hot(idx, act_spec.dim).float()
    return torch.rand(*lead, act_spec.dim, generator=gen) * 2 - 1


def fake_batch(agent: Agent, gen: torch.Generator) -> Any:
    """A batch of the kind `agent.data` asks for, in the loop's formats (base.py, DESIGN.md)."""
    spec, obs_spec, act_spec = agent.data, agent.obs_spec, agent.act_spec
    if spec.kind == "transitions":
        n = spec.batch
        return {
            "obs": fake_obs(obs_spec, (n,), gen),
            "action": fake_actions(act_spec, (n,), gen),
            "reward": torch.randn(n, generator=gen),
            "discount": spec.gamma * (torch.rand(n, generator=gen) > 0.2).float(),
            "next_obs": fake_obs(obs_spec, (n,), gen),
        }
    if spec.kind == "sequences":
        n, t = spec.batch, spec.length
        batch = fake_obs(obs_spec, (n, t), gen)
        batch["action"] = fake_actions(act_spec, (n, t), gen)
        batch["reward"] = torch.randn(n, t, generator=gen)
        is_first = torch.zeros(n, t, dtype=torch.bool)
        is_first[:, 0] = True
        batch["is_first"] = is_first
        batch["is_last"] = torch.zeros(n, t, dtype=torch.bool)
        batch["is_terminal"] = torch.zeros(n, t, dtype=torch.bool)
        return batch
    if spec.kind == "rollouts":
        buffer = RolloutBuffer(spec.length, 2, row_spec(obs_spec, act_spec))
        ends = {2: "terminal", 4: "truncated"}  # env 0 terminates at row 2, env 1 is cut at row 4
        for t in range(spec.length + 1):
            row: dict[str, Any] = fake_obs(obs_spec, (2,), gen)
            row["action"] = fake_actions(act_spec, (2,), gen)
            row["reward"] = torch.randn(2, generator=gen)
            row["is_first"] = torch.tensor([t == 0 or t - 1 in ends, t == 0 or t - 1 in ends])
            row["is_last"] = torch.tensor([ends.get(t) == "terminal", ends.get(t) == "truncated"])
            row["is_terminal"] = torch.tensor([ends.get(t) == "terminal", False])
            buffer.add(row)
        return buffer
    assert spec.kind == "none", spec.kind
    return None


def act_obs(agent: Agent, gen: torch.Generator) -> dict[str, torch.Tensor]:
    obs = fake_obs(agent.obs_spec, (B,), gen)
    obs["is_first"] = torch.tensor([True, False, True, False])
    return obs


def modules(agent: Agent) -> list[torch.nn.Module]:
    return [v for v in vars(agent).values() if isinstance(v, torch.nn.Module)]


def params(agent: Agent) -> list[torch.Tensor]:
    return [p for m in modules(agent) for p in m.parameters()]


def tensors(state: Any) -> list[torch.Tensor]:
    """All tensors in a (nested) state dict, optimizer state included."""
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for v in state.values() for t in tensors(v)]
    if isinstance(state, (list, tuple)):
        return [t for v in state for t in tensors(v)]
    return []


def supported(name: str, act: str) -> bool:
    need = TINY[name][1]
    return need is None or need == ACT_SPECS[act].discrete


CASES = [
    pytest.param(name, obs, act, id=f"{name}-{obs}-{act}")
    for name in TINY
    for obs in OBS_SPECS
    for act in ACT_SPECS
    if supported(name, act)
]
UNSUPPORTED = [
    pytest.param(name, act, id=f"{name}-{act}")
    for name in TINY
    for act in ACT_SPECS
    if not supported(name, act)
]


def check_actions(action: torch.Tensor, act_spec: ActSpec) -> None:
    assert action.shape == (B, act_spec.dim) and action.dtype == torch.float32
    assert torch.isfinite(action).all()
    assert (action >= -1).all() and (action <= 1).all()
    if act_spec.discrete:
        assert ((action == 0) | (action == 1)).all() and (action.sum(-1) == 1).all()


@pytest.mark.parametrize("name,obs,act", CASES)
def test_act_both_modes(name: str, obs: str, act: str) -> None:
    agent = build(name, OBS_SPECS[obs], ACT_SPECS[act])
    gen = torch.Generator().manual_seed(1)
    o = act_obs(agent, gen)
    for mode in ("explore", "eval"):
        action, _ = agent.act(o, agent.init_state(B), mode)
        check_actions(action, agent.act_spec)
    if name != "random":  # eval mode is deterministic
        a1, _ = agent.act(o, agent.init_state(B), "eval")
        a2, _ = agent.act(o, agent.init_state(B), "eval")
        assert torch.equal(a1, a2)


@pytest.mark.parametrize("name,obs,act", CASES)
def test_update_finite_and_changes_params(name: str, obs: str, act: str) -> None:
    agent = build(name, OBS_SPECS[obs], ACT_SPECS[act])
    gen = torch.Generator().manual_seed(2)
    before = [p.detach().clone() for p in params(agent)]
    batch = fake_batch(agent, gen)
    metrics = {}
    for _ in range(2):  # two updates: delayed parts (TD3's actor) run on one of them
        metrics = agent.update(batch) if batch is not None else agent.update(None)
    if agent.data.kind == "none":
        assert metrics == {}
        return
    assert metrics, "an update must report metrics"
    for k, v in metrics.items():
        assert "/" in k, f"metric {k!r} is not namespaced"
        assert isinstance(v, torch.Tensor) and v.dim() == 0, k
        assert torch.isfinite(v), f"{k} = {v}"
    for m in modules(agent):
        for p in m.parameters():
            assert torch.isfinite(p).all()
            if p.grad is not None:
                assert torch.isfinite(p.grad).all()
    after = params(agent)
    assert len(after) == len(before)
    assert any(not torch.equal(a, b) for a, b in zip(after, before)), "update changed no parameter"


@pytest.mark.parametrize("name,obs,act", CASES)
def test_state_dict_round_trip(name: str, obs: str, act: str) -> None:
    gen = torch.Generator().manual_seed(3)
    agent = build(name, OBS_SPECS[obs], ACT_SPECS[act], seed=0)
    batch = fake_batch(agent, gen)
    if batch is not None:
        agent.update(batch)  # optimizer moments and counters are non-trivial now
    buf = io.BytesIO()
    torch.save(agent.state_dict(), buf)
    buf.seek(0)
    other = build(name, OBS_SPECS[obs], ACT_SPECS[act], seed=1)
    other.load_state_dict(torch.load(buf, weights_only=False))
    assert other.config_signature() == agent.config_signature()
    if batch is None:  # the random agent: only its generator, which must draw on identically
        assert agent.state_dict() == other.state_dict() != {}
        o = act_obs(agent, gen)
        first, second = (a.act(o, None, "explore")[0] for a in (agent, other))
        assert torch.equal(first, second)
        return
    o = act_obs(agent, gen)
    actions = []
    for a in (agent, other):
        torch.manual_seed(5)  # same RNG draws, should acting sample anything (a latent state)
        actions.append(a.act(o, a.init_state(B), "eval")[0])
    assert torch.equal(actions[0], actions[1])
    # The next update continues identically: optimizers and counters came back too.
    for a in (agent, other):
        torch.manual_seed(7)
        np.random.seed(7)
        a.update(fake_batch(a, torch.Generator().manual_seed(4)))
    for x, y in zip(tensors(agent.state_dict()), tensors(other.state_dict())):
        assert torch.equal(x, y)


@pytest.mark.parametrize("name,act", UNSUPPORTED)
def test_rejects_unsupported_action_space(name: str, act: str) -> None:
    with pytest.raises(ValueError, match="actions"):
        build(name, OBS_SPECS["vector"], ACT_SPECS[act])


WORLD_MODEL_CASES = [pytest.param(name, id=name) for name in TINY]


@pytest.mark.parametrize("name", WORLD_MODEL_CASES)
def test_world_model_contract(name: str, tmp_path) -> None:
    act = ACT_SPECS["continuous" if supported(name, "continuous") else "discrete"]
    agent = build(name, OBS_SPECS["vector"], act)
    wm = agent.world_model
    has_world_model = name in ("dreamer", "cem", "mppi", "random_shooting") or "latent" in name
    assert (wm is not None) == has_world_model
    agent.export(tmp_path)
    assert (tmp_path / "world_model.pt").exists() == has_world_model
    prior = agent.planning_prior()
    assert prior is None or isinstance(prior, PlanningPrior)
    assert (prior is not None) == (name == "dreamer")  # the one agent with actor + value on feats
    if wm is None:
        return
    assert isinstance(wm, WorldModelBase)
    clone = load_world_model(tmp_path, "cpu")
    assert type(clone) is type(wm) and clone.config() == wm.config()
    for (k, a), b in zip(wm.state_dict().items(), clone.state_dict().values()):
        assert torch.equal(a, b), k
    if prior is not None:
        feat = torch.randn(6, wm.feat_dim)
        assert prior.actor(feat).shape == (6, act.dim) and prior.value(feat).shape == (6,)
