"""SAC, PPO, TD3 and DQN on world-model features (`input=latent`) and in imagination
(`imagination=true`), worldmodels/agents/latent.py: act, update (the world model trains, gradients
finite), state_dict round trip, loading a Dreamer run's world_model.pt (frozen and fine-tuned), the
row convention of latent transitions, bad-config errors, and one end-to-end debug run of each
mode."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from worldmodels.agents.base import Agent, build_agent
from worldmodels.agents.latent import LatentFeatures
from worldmodels.data.rollout import RolloutBuffer
from worldmodels.envs.spaces import ActSpec, ArraySpec, ObsSpec, row_spec
from worldmodels.train import CONFIG_DIR, run

PIXELS: ObsSpec = {"image": ArraySpec((16, 16, 3), "uint8")}
ACTS = {"continuous": ActSpec(2, False), "discrete": ActSpec(3, True)}
LATENT = [
    "agent.input=latent",
    "agent.latent.batch_size=2",
    "agent.latent.batch_length=5",
    "agent.latent.horizon=3",
]
HEADS = {
    "sac": ["agent.units=16", "agent.layers=1"],
    "ppo": ["agent.units=16", "agent.rollout=6", "agent.epochs=2", "agent.minibatches=2"],
    "td3": ["agent.units=16", "agent.layers=1"],
    "dqn": ["agent.units=16", "agent.layers=1"],
}
# (head, imagination, action space): SAC and TD3 need continuous actions, DQN discrete (one-hot);
# PPO covers both.
MODES = [
    pytest.param("sac", False, "continuous", id="sac-latent"),
    pytest.param("sac", True, "continuous", id="sac-imagination"),
    pytest.param("ppo", False, "discrete", id="ppo-latent"),
    pytest.param("ppo", True, "continuous", id="ppo-imagination"),
    pytest.param("td3", False, "continuous", id="td3-latent"),
    pytest.param("td3", True, "continuous", id="td3-imagination"),
    pytest.param("dqn", False, "discrete", id="dqn-latent"),
    pytest.param("dqn", True, "discrete", id="dqn-imagination"),
]
B = 3


def build(
    head: str, imagination: bool, act_spec: ActSpec, obs_spec: ObsSpec = PIXELS, *extra: str
) -> Agent:
    torch.manual_seed(0)
    overrides = [f"agent={head}", "size=xs", *HEADS[head], *LATENT]
    overrides += [f"agent.imagination={str(imagination).lower()}", *extra]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    return build_agent(cfg.agent, obs_spec, act_spec, "cpu")


def fake_obs(obs_spec: ObsSpec, lead: tuple[int, ...], gen: torch.Generator) -> dict:
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
    """A sequences batch (one terminal inside) or a full rollout buffer, per `agent.data`."""
    spec = agent.data
    if spec.kind == "sequences":
        n, t = spec.batch, spec.length
        batch = fake_obs(agent.obs_spec, (n, t), gen)
        batch["action"] = fake_actions(agent.act_spec, (n, t), gen)
        batch["reward"] = torch.randn(n, t, generator=gen)
        batch["is_first"] = torch.zeros(n, t, dtype=torch.bool)
        batch["is_first"][:, 0] = True
        batch["is_last"] = torch.zeros(n, t, dtype=torch.bool)
        batch["is_terminal"] = torch.zeros(n, t, dtype=torch.bool)
        batch["is_last"][0, 2] = batch["is_terminal"][0, 2] = True
        batch["is_first"][0, 3] = True
        return batch
    assert spec.kind == "rollouts", spec.kind
    buffer = RolloutBuffer(spec.length, 2, row_spec(agent.obs_spec, agent.act_spec))
    for t in range(spec.length + 1):
        row: dict[str, Any] = fake_obs(agent.obs_spec, (2,), gen)
        row["action"] = fake_actions(agent.act_spec, (2,), gen)
        row["reward"] = torch.randn(2, generator=gen)
        row["is_first"] = torch.tensor([t in (0, 3), t == 0])
        row["is_last"] = torch.tensor([t == 2, False])
        row["is_terminal"] = torch.tensor([t == 2, False])
        buffer.add(row)
    return buffer


def act_obs(agent: Agent, gen: torch.Generator) -> dict[str, torch.Tensor]:
    obs = fake_obs(agent.obs_spec, (B,), gen)
    obs["is_first"] = torch.tensor([True, False, True])
    return obs


def tensors(state: Any) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for v in state.values() for t in tensors(v)]
    if isinstance(state, (list, tuple)):
        return [t for v in state for t in tensors(v)]
    return []


def head_params(agent: Agent) -> list[torch.Tensor]:
    """The head's own networks: DQN's Q network, or the actor and critic of the others."""
    if hasattr(agent, "q"):
        return list(agent.q.parameters())
    return [p for p in agent.actor.parameters()] + [p for p in agent.critic.parameters()]  # type: ignore[attr-defined]


@pytest.mark.parametrize("head,imagination,act", MODES)
def test_act_update_round_trip(head: str, imagination: bool, act: str) -> None:
    agent = build(head, imagination, ACTS[act])
    assert isinstance(agent.world_model, torch.nn.Module)
    expected_kind = "rollouts" if head == "ppo" and not imagination else "sequences"
    assert agent.data.kind == expected_kind
    gen = torch.Generator().manual_seed(1)
    o = act_obs(agent, gen)
    # acting carries (posterior, previous action) and filters across calls
    action, state = agent.act(o, agent.init_state(B), "explore")
    assert action.shape == (B, ACTS[act].dim) and torch.isfinite(action).all()
    assert (action.abs() <= 1).all()
    if ACTS[act].discrete:  # one-hot actions
        assert torch.equal(action.sum(-1), torch.ones(B))
        assert set(action.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(state[1], action)
    action, state = agent.act({**o, "is_first": torch.zeros(B, dtype=torch.bool)}, state, "explore")
    assert torch.isfinite(action).all()
    a1, _ = agent.act(o, agent.init_state(B), "eval")
    a2, _ = agent.act(o, agent.init_state(B), "eval")
    assert torch.equal(a1, a2)

    wm_before = [p.detach().clone() for p in agent.world_model.parameters()]
    head_before = [p.detach().clone() for p in head_params(agent)]
    metrics = agent.update(fake_batch(agent, gen))
    assert any(k.startswith("wm/") for k in metrics) and any(
        k.startswith("agent/") for k in metrics
    )
    for k, v in metrics.items():
        assert v.dim() == 0 and torch.isfinite(v), f"{k} = {v}"
    if imagination:
        assert "agent/imag_reward_mean" in metrics
    for p in [*agent.world_model.parameters(), *head_params(agent)]:
        assert torch.isfinite(p).all()
        assert p.grad is None or torch.isfinite(p.grad).all()
    wm_after = list(agent.world_model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(wm_after, wm_before)), "world model unchanged"
    head_after = head_params(agent)
    assert any(not torch.equal(a, b) for a, b in zip(head_after, head_before)), "head unchanged"

    buf = io.BytesIO()
    torch.save(agent.state_dict(), buf)
    buf.seek(0)
    other = build(head, imagination, ACTS[act])
    other.load_state_dict(torch.load(buf, weights_only=False))
    assert other.config_signature() == agent.config_signature()
    o = act_obs(agent, gen)
    assert torch.equal(agent.act(o, None, "eval")[0], other.act(o, None, "eval")[0])
    for a in (agent, other):  # the next update continues identically (optimizers restored)
        torch.manual_seed(7)
        np.random.seed(7)
        a.update(fake_batch(a, torch.Generator().manual_seed(4)))
    for x, y in zip(tensors(agent.state_dict()), tensors(other.state_dict())):
        assert torch.equal(x, y)


def test_latent_transitions_follow_row_convention() -> None:
    b, t = 2, 4
    feat = torch.arange(b * t, dtype=torch.float32).reshape(b, t, 1)
    batch = {
        "action": torch.arange(b * t, dtype=torch.float32).reshape(b, t, 1) + 100,
        "reward": torch.arange(b * t, dtype=torch.float32).reshape(b, t) + 200,
        "is_first": torch.tensor([[True, False, False, True], [True, False, False, False]]),
        "is_last": torch.tensor([[False, False, True, False], [False] * 4]),
        "is_terminal": torch.tensor([[False, False, True, False], [False] * 4]),
    }
    tr = LatentFeatures.transitions(feat, batch, 0.9)
    assert tr["feat"][:, 0].tolist() == [0, 1, 2, 4, 5, 6]
    assert tr["next_feat"][:, 0].tolist() == [1, 2, 3, 5, 6, 7]
    assert tr["action"][:, 0].tolist() == [100, 101, 102, 104, 105, 106]  # action_t
    assert tr["reward"].tolist() == [201, 202, 203, 205, 206, 207]  # reward_{t+1}
    assert tr["discount"].tolist() == pytest.approx([0.9, 0.0, 0.9, 0.9, 0.9, 0.9])
    assert tr["mask"].tolist() == [1, 1, 0, 1, 1, 1]  # no transition out of the is_last row


@pytest.mark.parametrize(
    "overrides,match",
    [
        (["agent.input=pixels"], "unknown input"),
        (["agent.input=obs", "agent.imagination=true"], "needs input=latent"),
        (["+agent.world_model.bogus=1"], "unknown world model options"),
        (["agent.latent.train=false"], "world_model_path"),
        (["agent.world_model_path=/nonexistent/world_model.pt"], "does not exist"),
    ],
)
@pytest.mark.parametrize(
    "head,act", [("sac", "continuous"), ("td3", "continuous"), ("dqn", "discrete")]
)
def test_bad_config_is_a_clear_error(overrides: list[str], match: str, head: str, act: str) -> None:
    with pytest.raises(ValueError) as err:
        build(head, False, ACTS[act], PIXELS, *overrides)
    assert match in str(err.value)


@pytest.fixture(scope="module")
def dreamer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Dreamer run on pixels; its RUN_DIR/world_model.pt is what latent heads load."""
    run_dir = tmp_path_factory.mktemp("dreamer")
    run(
        [
            "agent=dreamer",
            "size=xs",
            "env=dummy",
            "env.task=reach",
            "env.image_size=16",
            "trainer=debug",
            "trainer.train_ratio=16",
            "device=cpu",
            "logger.progress=false",
            "agent.batch_size=2",
            "agent.batch_length=8",
            "agent.horizon=3",
            f"run_dir={run_dir}",
        ]
    )
    assert (run_dir / "world_model.pt").exists()
    return run_dir


@pytest.mark.parametrize("train", [False, True], ids=["frozen", "finetuned"])
@pytest.mark.parametrize("head,imagination", [("sac", True), ("ppo", True), ("td3", False)])
def test_loads_dreamer_world_model(
    dreamer_run: Path, head: str, imagination: bool, train: bool
) -> None:
    payload = torch.load(dreamer_run / "world_model.pt", weights_only=False)
    obs_spec = {k: ArraySpec(tuple(v["shape"]), v["dtype"]) for k, v in payload["obs_spec"].items()}
    act_spec = ActSpec(**payload["act_spec"])
    agent = build(
        head,
        imagination,
        act_spec,
        obs_spec,
        f"agent.world_model_path={dreamer_run / 'world_model.pt'}",
        f"agent.latent.train={str(train).lower()}",
    )
    wm = agent.world_model
    assert wm is not None
    for k, v in wm.state_dict().items():  # the Dreamer run's weights, not a fresh model
        assert torch.equal(v, payload["state_dict"][k]), k
    agent.update(fake_batch(agent, torch.Generator().manual_seed(0)))
    changed = any(not torch.equal(v, payload["state_dict"][k]) for k, v in wm.state_dict().items())
    assert changed == train


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "head,extra",
    [
        pytest.param("sac", [], id="sac-latent"),
        pytest.param("sac", ["agent.imagination=true"], id="sac-imagination"),
        pytest.param("ppo", [], id="ppo-latent"),
        pytest.param("ppo", ["agent.imagination=true"], id="ppo-imagination"),
        pytest.param("td3", [], id="td3-latent"),
        pytest.param("td3", ["agent.imagination=true"], id="td3-imagination"),
        pytest.param("dqn", ["env.task=reach_discrete"], id="dqn-latent"),
        pytest.param("dqn", ["env.task=bandit", "agent.imagination=true"], id="dqn-imagination"),
    ],
)
def test_end_to_end_debug_run(run_overrides, head: str, extra: list[str]) -> None:
    run_dir = run(
        run_overrides(
            f"agent={head}",
            "size=xs",
            "env=dummy",
            "env.task=reach",
            "env.image_size=16",
            "trainer.train_ratio=8",
            *HEADS[head],
            *LATENT,
            *extra,
        )
    )
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    assert (run_dir / "world_model.pt").exists()
    rows = _metrics(run_dir)
    assert any("wm/loss" in r for r in rows) and any(
        "agent/critic_loss" in r or "agent/value_loss" in r or "agent/q_loss" in r for r in rows
    )
    assert any("eval/return_mean" in r for r in rows)
