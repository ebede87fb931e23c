"""Each ablation switch (configs/ablation/*.yaml) changes what it names, tested both ways, and runs
a few debug steps through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from tests.flat_options import dreamer_agent
from worldmodels.agents.dreamer import DreamerAgent
from worldmodels.envs.spaces import ActSpec, ArraySpec
from worldmodels.models.rssm import GRUCell

XS = dict(
    units=16,
    layers=1,
    cnn_depth=4,
    deter=16,
    stoch=4,
    classes=4,
    hidden=16,
    batch_size=3,
    batch_length=6,
    horizon=4,
)
OBS = {"image": ArraySpec((16, 16, 3), "uint8"), "vector": ArraySpec((3,), "float32")}
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ABLATIONS = sorted(p.stem for p in (CONFIGS / "ablation").glob("*.yaml"))
ACT = ActSpec(2, False)


def make_batch(obs_spec, act_spec: ActSpec, b: int = 3, t: int = 6) -> dict[str, torch.Tensor]:
    """A sequences batch with random content, an episode boundary and a termination."""
    g = torch.Generator().manual_seed(0)
    batch = {
        "action": torch.rand(b, t, act_spec.dim, generator=g) * 2 - 1,
        "reward": torch.rand(b, t, generator=g),
        "is_first": torch.zeros(b, t, dtype=torch.bool),
        "is_last": torch.zeros(b, t, dtype=torch.bool),
        "is_terminal": torch.zeros(b, t, dtype=torch.bool),
        "image": torch.randint(0, 256, (b, t, 16, 16, 3), dtype=torch.uint8, generator=g),
        "vector": torch.randn(b, t, 3, generator=g),
    }
    batch["is_first"][:, 0] = True
    batch["is_last"][0, -1] = batch["is_terminal"][0, -1] = True
    return batch


def ablation(name: str) -> dict:
    """The keys an ablation file sets: its `ablation_world_model` block (world-model switches,
    merged into agent.world_model by worldmodels.train) or its agent keys."""
    cfg = OmegaConf.to_container(
        OmegaConf.load(CONFIGS / "ablation" / f"{name}.yaml") or OmegaConf.create()
    )
    assert isinstance(cfg, dict)
    return dict(cfg.get("ablation_world_model", cfg))


def build(name: str | None = None, act_spec: ActSpec = ACT, **kw) -> DreamerAgent:
    torch.manual_seed(0)
    return dreamer_agent(OBS, act_spec, "cpu", **{**XS, **(ablation(name) if name else {}), **kw})


def update(agent: DreamerAgent, act_spec: ActSpec = ACT) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return agent.update(make_batch(OBS, act_spec))


def test_every_listed_ablation_has_a_file_and_none_is_empty():
    expected = {
        "none",
        "no_decoder",
        "gaussian_latent",
        "no_kl_balance",
        "no_free_nats",
        "deterministic_only",
        "stochastic_only",
        "no_continue_head",
        "actor_grad_dynamics",
        "actor_grad_reinforce",
        "no_return_norm",
    }
    assert expected <= set(ABLATIONS)
    assert ablation("none") == {}
    for name in ABLATIONS:
        text = (CONFIGS / "ablation" / f"{name}.yaml").read_text()
        # world-model switches go through ablation_world_model (reaching every head's model)
        assert text.startswith("# @package agent") or (
            text.startswith("# @package _global_") and "\nablation_world_model:" in text
        ), name
        assert name == "none" or ablation(name), name


def test_no_decoder():
    base, abl = build(), build("no_decoder")
    assert base.world_model.decoder is not None and abl.world_model.decoder is None
    assert any(k.startswith("decoder.") for k in base.world_model.state_dict())
    assert not any(k.startswith("decoder.") for k in abl.world_model.state_dict())
    assert {"wm/loss/image", "wm/loss/vector"} <= set(update(base))
    assert not {"wm/loss/image", "wm/loss/vector"} & set(update(abl))


def test_gaussian_latent():
    base, abl = build(), build("gaussian_latent")
    assert (
        base.world_model.rssm.latent == "categorical" and abl.world_model.rssm.latent == "gaussian"
    )
    assert base.world_model.rssm.stoch_dim == XS["stoch"] * XS["classes"]
    assert abl.world_model.rssm.stoch_dim == XS["stoch"]
    assert torch.isfinite(update(abl)["wm/kl"])


def test_no_kl_balance():
    base, abl = (
        build(free_nats=0.0),
        build("no_kl_balance", free_nats=0.0),
    )  # no clipping to hide gradients
    assert base.world_model.kl_balance and not abl.world_model.kl_balance
    batch = make_batch(
        OBS, ACT, t=1
    )  # one step: posterior-head gradients of dyn come from the KL only
    for agent, leaks in ((base, False), (abl, True)):
        terms, _ = agent.world_model.loss(batch)
        grads = torch.autograd.grad(
            terms["dyn"].sum(), list(agent.world_model.rssm.obs_out.parameters()), allow_unused=True
        )
        assert any(g is not None and g.abs().sum() > 0 for g in grads) == leaks


def test_no_free_nats():
    base, abl = build(), build("no_free_nats")
    assert base.world_model.free_nats == 1.0 and abl.world_model.free_nats == 0.0
    terms_base, _ = base.world_model.loss(make_batch(OBS, ACT))
    terms_abl, _ = abl.world_model.loss(make_batch(OBS, ACT))
    assert (terms_base["dyn"] >= 1.0).all()
    assert (terms_abl["dyn"] < 1.0).any()


def test_deterministic_only():
    base, abl = build(), build("deterministic_only")
    assert abl.world_model.rssm.latent == "deterministic"
    m_abl, m_base = update(abl), update(base)
    assert m_abl["wm/post_entropy"] == 0 and m_abl["wm/prior_entropy"] == 0
    assert m_base["wm/post_entropy"] > 0
    batch = make_batch(OBS, ACT)
    obs = {k: batch[k] for k in OBS}
    for agent, same in ((abl, True), (base, False)):
        torch.manual_seed(4)
        s1, _ = agent.world_model.observe(None, obs, batch["action"], batch["is_first"])
        torch.manual_seed(5)
        s2, _ = agent.world_model.observe(None, obs, batch["action"], batch["is_first"])
        assert torch.equal(s1["stoch"], s2["stoch"]) == same


def test_stochastic_only():
    base, abl = build(), build("stochastic_only")
    assert any(isinstance(m, GRUCell) for m in base.world_model.modules())
    assert not any(isinstance(m, GRUCell) for m in abl.world_model.modules())
    assert abl.world_model.feat_dim == abl.world_model.rssm.stoch_dim
    assert base.world_model.feat_dim == XS["deter"] + base.world_model.rssm.stoch_dim
    assert torch.isfinite(update(abl)["agent/actor_loss"])


def test_no_continue_head():
    base, abl = build(), build("no_continue_head")
    assert base.world_model.cont is not None and abl.world_model.cont is None
    m_base, m_abl = update(base), update(abl)
    assert "wm/loss/cont" in m_base and "wm/loss/cont" not in m_abl
    assert m_abl["agent/imag_cont_mean"] == 1.0 and m_base["agent/imag_cont_mean"] < 1.0


@pytest.mark.parametrize(
    "name,rho,through_dynamics",
    [
        ("actor_grad_dynamics", 0.0, True),
        ("actor_grad_reinforce", 1.0, False),
        ("actor_grad_mix", 0.1, True),
    ],
)
def test_actor_grad_modes(name, rho, through_dynamics):
    agent = build(name)
    assert agent.rho == rho
    _, post = agent.world_model.loss(make_batch(OBS, ACT))
    start = {k: v.detach().reshape(-1, v.shape[-1]) for k, v in post.items()}
    roll = agent._imagine(start)
    assert roll.feat.requires_grad == through_dynamics
    if through_dynamics:
        roll.feat[1:].pow(2).sum().backward()  # (the zero-initialized reward head has no slope yet)
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.actor.parameters())
        # the actor's gradient passes through the world model without training it
        assert all(p.grad is None for p in agent.world_model.parameters())
        assert all(p.requires_grad for p in agent.world_model.rssm.img_in.parameters())
    assert torch.isfinite(update(agent)["agent/actor_loss"])


def test_actor_grad_auto_picks_by_action_space():
    assert build(actor_grad="auto").rho == 0.0
    assert build(actor_grad="auto", act_spec=ActSpec(3, True)).rho == 1.0


def test_no_return_norm():
    base, abl = build(), build("no_return_norm")
    batch = make_batch(OBS, ACT)
    batch["reward"] = batch["reward"] * 50  # returns spread wider than the limit of 1
    for _ in range(3):
        m_base = base.update(batch)
        m_abl = abl.update(batch)
    assert m_abl["agent/return_scale"] == 1.0
    assert torch.equal(abl.return_norm.low_high, torch.zeros(2))
    assert not torch.equal(base.return_norm.low_high, torch.zeros(2))
    assert m_base["agent/return_scale"] >= 1.0


def _group_override(group: str, option: str) -> str:
    """`group=option` when the root config lists the group in its defaults, else `+group=option`."""
    defaults = OmegaConf.load(CONFIGS / "config.yaml").defaults
    listed = any(
        group in str(key).split()
        for entry in defaults
        if not isinstance(entry, str)
        for key in entry
    )
    return f"{group}={option}" if listed else f"+{group}={option}"


@pytest.mark.parametrize("name", ABLATIONS)
def test_ablation_runs_through_the_entry_point(name, run_overrides):
    from worldmodels.train import run

    run_dir = run(
        run_overrides(
            "agent=dreamer",
            "env=dummy",
            "env.task=reach",
            "env.image_size=16",
            "size=xs",
            _group_override("ablation", name),
            "agent.batch_size=4",
            "agent.batch_length=8",
            "agent.horizon=5",
            "trainer.steps=60",
            "trainer.prefill=20",
            "trainer.train_ratio=8",
            "trainer.log_every=20",
            "trainer.eval_every=60",
            "trainer.checkpoint_every=60",
            "logger.tensorboard=false",
            name=name,
        )
    )
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in rows if "wm/loss" in r]
    assert losses and rows[-1]["grad_steps"] > 0
    assert ("wm/loss/image" in losses[-1]) == (name != "no_decoder")
    assert ("wm/loss/cont" in losses[-1]) == (name != "no_continue_head")
    saved = torch.load(run_dir / "world_model.pt", weights_only=False)
    expected = ablation(name)
    recorded = OmegaConf.load(run_dir / "config.yaml").agent
    for key, value in expected.items():
        # config.yaml holds the agent that ran; world-model switches sit in agent.world_model
        in_wm = key in saved["config"]
        assert (recorded.world_model if in_wm else recorded)[key] == value, key
        if in_wm:
            assert saved["config"][key] == value, key


@pytest.mark.parametrize("preset", ["dreamer_v1", "dreamer_v2", "dreamer_v3", "dreamer_v3_2023"])
def test_preset_runs_through_the_entry_point(preset, run_overrides):
    from worldmodels.train import run

    run_dir = run(
        run_overrides(
            "agent=dreamer",
            "env=dummy",
            "env.task=reach",
            "env.image_size=16",
            "size=xs",
            _group_override("preset", preset),
            # V1/V2's CNN is defined for 64x64 images only
            f"env.image_size={64 if preset in ('dreamer_v1', 'dreamer_v2') else 16}",
            "agent.batch_size=4",
            "agent.batch_length=8",
            "agent.horizon=5",
            "trainer.steps=60",
            "trainer.prefill=20",
            "trainer.train_ratio=8",
            "trainer.log_every=20",
            "trainer.eval_every=60",
            "trainer.checkpoint_every=60",
            "logger.tensorboard=false",
            name=preset,
        )
    )
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    config = OmegaConf.load(run_dir / "config.yaml")
    expected = OmegaConf.load(CONFIGS / "preset" / f"{preset}.yaml").agent
    for key in ("actor_grad", "optimizer"):
        if key in expected:
            assert config.agent[key] == expected[key], key
    for key in ("latent", "kl_balance", "reward_head"):  # the preset addresses agent.world_model
        if key in expected.get("world_model", {}):
            assert config.agent.world_model[key] == expected.world_model[key], key


def test_world_model_ablations_reach_a_latent_heads_world_model(run_overrides):
    """`+ablation=no_decoder` changes the world model a latent-input SAC owns (agent.world_model),
    as it changes Dreamer's; on a head without a world model it is a one-line error."""
    from worldmodels.errors import UserError
    from worldmodels.train import run

    common = [
        "agent=sac",
        "env=dummy",
        "env.task=reach",
        "env.image_size=16",
        "size=xs",
        "+ablation=no_decoder",
        "agent.units=16",
        "agent.layers=1",
        "agent.latent.batch_size=2",
        "agent.latent.batch_length=5",
        "trainer.train_ratio=16",
        "logger.tensorboard=false",
    ]
    run_dir = run(run_overrides(*common, "agent.input=latent", name="latent"))
    saved = torch.load(run_dir / "world_model.pt", weights_only=False)
    assert saved["config"]["decoder"] is False
    # config.yaml records the merged agent, so evaluate/compare rebuild the model that ran
    assert OmegaConf.load(run_dir / "config.yaml").agent.world_model.decoder is False
    with pytest.raises(UserError, match="agent.input=obs has none; add agent.input=latent"):
        run(run_overrides(*common, name="obs"))
