"""Known answers for the behaviour-learning mechanisms of the DreamerV3 releases: replay context,
contdisc continue targets, the replay value loss, the single LaProp step, the 2023 dynamics
objective with a detached actor input, and the imagination weights with the discount."""

from __future__ import annotations

import json
import math

import pytest
import torch
from omegaconf import OmegaConf

from tests.flat_options import dreamer_agent
from worldmodels.agents.dreamer import DreamerAgent
from worldmodels.envs.spaces import ActSpec, ArraySpec
from worldmodels.objectives.dreamer_losses import actor_loss, imagination_weight

OBS = {"image": ArraySpec((16, 16, 3), "uint8"), "vector": ArraySpec((3,), "float32")}
ACT = ActSpec(2, False)
XS = dict(units=16, layers=1, cnn_depth=4, deter=16, stoch=4, classes=4, hidden=16)
#: the current release's switches (configs/preset/dreamer_v3.yaml), at tiny widths
CURRENT = dict(
    **XS,
    batch_size=3,
    batch_length=6,
    horizon=4,
    enc_layers=3,
    reward_layers=1,
    cont_layers=1,
    actor_layers=3,
    critic_layers=3,
    norm="rms",
    winit="trunc_normal_in",
    cnn="pooled",
    core="block",
    gru_blocks=8,
    img_layers=2,
    learned_initial=False,
    bins_space="symexp",
    loss_scales={"image": 1.0, "vector": 1.0, "reward": 1.0, "cont": 1.0, "dyn": 1.0, "rep": 0.1},
    actor_grad="reinforce",
    dynamics_baseline=False,
    actor_outscale=0.01,
    imag_cont="prob",
    contdisc=True,
    optimizer="laprop",
    repval_loss=True,
    replay_context=1,
    prefill_policy=True,
)


def make(**kw) -> DreamerAgent:
    torch.manual_seed(0)
    return dreamer_agent(OBS, ACT, "cpu", **{**CURRENT, **kw})


def batch_for(agent: DreamerAgent, b: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = agent.data.length
    batch = {
        "action": torch.rand(b, t, 2, generator=g) * 2 - 1,
        "reward": torch.rand(b, t, generator=g),
        "is_first": torch.zeros(b, t, dtype=torch.bool),
        "is_last": torch.zeros(b, t, dtype=torch.bool),
        "is_terminal": torch.zeros(b, t, dtype=torch.bool),
        "image": torch.randint(0, 256, (b, t, 16, 16, 3), dtype=torch.uint8, generator=g),
        "vector": torch.randn(b, t, 3, generator=g),
    }
    batch["is_first"][1, 1] = True  # sequence 1 starts an episode right after the context row
    batch["is_last"][2, 3] = batch["is_terminal"][2, 3] = True
    for k, spec in agent.data.extras.items():
        batch[k] = torch.randn(b, t, *spec.shape, generator=g)
    return batch


# ---- replay context ----------------------------------------------------------------------------
def test_replay_context_declares_stored_latents_and_a_longer_sequence():
    agent = make()
    assert agent.data.length == 6 + 1 and agent.data.context == 1
    assert agent.data.replayed_per_update == 3 * 6  # the context row is not replayed
    assert set(agent.data.extras) == {"deter", "stoch"}
    assert agent.data.prefill_policy
    assert make(replay_context=0).data.extras == {}


def test_first_posterior_starts_from_the_stored_latent_unless_the_row_starts_an_episode():
    agent = make()
    wm = agent.world_model
    batch = batch_for(agent)
    data, start, prev = agent._split_context(batch)
    assert start is not None and prev is not None
    assert torch.equal(start["deter"], batch["deter"][:, 0])
    # previous action of the first trained row: the context row's action (zero at episode starts)
    assert torch.equal(prev[0, 0], batch["action"][0, 0])
    assert torch.equal(prev[1, 0], torch.zeros(2))
    torch.manual_seed(5)
    _, post, _ = wm._loss(data, start, prev)
    # observing from the stored state by hand gives the same first posterior
    torch.manual_seed(5)
    manual, _ = wm.observe(start, {k: data[k] for k in OBS}, prev, data["is_first"])
    torch.testing.assert_close(post["deter"], manual["deter"])
    # a different stored latent changes the first posterior of sequences 0 and 2 only
    other = {k: v + 1.0 for k, v in start.items()}
    torch.manual_seed(5)
    _, post2, _ = wm._loss(data, other, prev)
    changed = (post2["deter"][:, 0] - post["deter"][:, 0]).abs().amax(-1)
    assert changed[0] > 1e-4 and changed[2] > 1e-4
    assert changed[1] == 0.0  # is_first: the initial state, whatever was stored
    # without replay context a sequence starts from the initial state (zeros in this release)
    fresh = make(replay_context=0)
    torch.manual_seed(5)
    _, post3, _ = fresh.world_model._loss({k: v[:, 1:] for k, v in batch.items()})
    torch.manual_seed(5)
    zero = {k: torch.zeros_like(v) for k, v in start.items()}
    _, post4, _ = fresh.world_model._loss(
        {k: v[:, 1:] for k, v in batch.items()}, zero, torch.zeros_like(prev)
    )
    torch.testing.assert_close(post3["deter"][:, 0], post4["deter"][:, 0])


def test_update_writes_back_the_posteriors_of_the_trained_rows():
    agent = make()
    batch = batch_for(agent)
    agent.update(batch)
    fresh = agent.replay_writeback()
    assert fresh is not None and fresh["deter"].shape == (3, 6, 16)
    assert fresh["stoch"].shape == (3, 6, 16)
    assert agent.replay_writeback() is None  # handed over once
    # the policy's state gives the entries stored with the rows it acts on
    obs = {k: batch[k][:, 0] for k in OBS}
    obs["is_first"] = torch.ones(3, dtype=torch.bool)
    _, state = agent.act(obs, None, "explore")
    extras = agent.row_extras(state)
    assert torch.equal(extras["deter"], state[0]["deter"])


# ---- contdisc --------------------------------------------------------------------------------
def test_contdisc_continue_target_is_the_discount_and_imagination_does_not_discount_again():
    agent = make()
    wm = agent.world_model
    assert wm.cont_discount == pytest.approx(1 - 1 / 333)
    data, start, prev = agent._split_context(batch_for(agent))
    terms, post, _ = wm._loss(data, start, prev)
    logits = wm.cont.net(wm.rssm.feat(post)).squeeze(-1)
    target = (1.0 - data["is_terminal"].float()) * (
        1 - 1 / 333
    )  # con *= 1 - 1/horizon (agent.py:176)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    torch.testing.assert_close(terms["cont"], ref)
    assert make(contdisc=False).world_model.cont_discount == 1.0
    # no continue head: contdisc has nothing to fold into, gamma discounts
    assert not make(cont_head=False).contdisc


def test_imagination_weights_carry_the_discount():
    cont = torch.tensor([[0.5], [1.0], [1.0]])  # [H=3, N=1]
    start = torch.tensor([1.0])
    w = imagination_weight(start, 0.9 * cont)
    # cumprod(discount * cont) / discount: 1, 0.9 * 0.5, 0.9^2 * 0.5
    torch.testing.assert_close(w[:, 0], torch.tensor([1.0, 0.45, 0.405]))


# ---- one loss, one LaProp step, repval ---------------------------------------------------------
def test_one_laprop_optimizer_over_world_model_actor_and_critic():
    agent = make()
    opt = agent.opt
    assert opt is not None
    params = {id(p) for g in opt.param_groups for p in g["params"]}
    for module in (agent.world_model, agent.actor, agent.critic):
        assert all(id(p) in params for p in module.parameters() if p.requires_grad)
    assert not any(id(p) in params for p in agent.slow_critic.parameters())
    assert set(agent.state_dict()) >= {"opt"} and "model_opt" not in agent.state_dict()
    g = opt.param_groups[0]
    assert (g["lr"], g["eps"], g["agc"], g["warmup"]) == (4e-5, 1e-20, 0.3, 1000)


def test_first_update_is_zero_under_warmup_then_parameters_move():
    agent = make()
    before = [p.detach().clone() for p in agent.world_model.parameters()]
    agent.update(batch_for(agent))
    assert all(torch.equal(a, b) for a, b in zip(before, agent.world_model.parameters()))
    agent.update(batch_for(agent, seed=1))
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.world_model.parameters()))


def test_repval_loss_trains_the_world_model_through_the_value_head():
    """repval_grad: True (dreamerv3/configs.yaml line 116): the replay value loss reaches the
    representation. With every other loss scaled to 0 the encoder still gets gradients."""
    zero = {"image": 0.0, "vector": 0.0, "reward": 0.0, "cont": 0.0, "dyn": 0.0, "rep": 0.0}
    agent = make(loss_scales=zero, ac_loss_scales={"policy": 0.0, "value": 0.0, "repval": 1.0})
    with torch.no_grad():  # a trained critic: its zero-initialized output layer has moved
        agent.critic.net[-1].weight.normal_(0.0, 0.1)
    batch = batch_for(agent)
    agent.opt.step = lambda *a, **k: None  # keep the gradients for inspection
    metrics = agent.update(batch)
    assert math.isfinite(metrics["agent/repval_loss"].item())
    enc = [p.grad for p in agent.world_model.encoder.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in enc)
    agent_off = make(loss_scales=zero, ac_loss_scales={"policy": 0.0, "value": 0.0, "repval": 0.0})
    with torch.no_grad():
        agent_off.critic.net[-1].weight.normal_(0.0, 0.1)
    agent_off.opt.step = lambda *a, **k: None
    agent_off.update(batch)
    assert all(
        p.grad is None or p.grad.abs().sum() == 0
        for p in agent_off.world_model.encoder.parameters()
    )


def test_repval_needs_the_single_optimizer():
    with pytest.raises(ValueError, match="needs optimizer=laprop"):
        make(optimizer="adam")


# ---- the 2023 release's dynamics objective ----------------------------------------------------
def test_dynamics_objective_is_return_minus_baseline_with_gradients_through_both():
    ret = torch.tensor([[2.0], [3.0]], requires_grad=True)
    base = torch.tensor([[1.0], [0.5]], requires_grad=True)
    w = torch.tensor([[1.0], [0.5]])
    zeros = torch.zeros(2, 1)
    loss = actor_loss(ret, base, zeros, zeros, w, 2.0, 0.0, 0.0, dynamics_baseline=True)
    # -(mean of w * (ret - base) / scale) = -((1 * 1 + 0.5 * 2.5) / 2) / 2
    assert loss.item() == pytest.approx(-(1.0 + 1.25) / 2 / 2)
    loss.backward()
    torch.testing.assert_close(ret.grad, -w / 2 / 2)
    torch.testing.assert_close(base.grad, w / 2 / 2)
    # V1/V2: the return alone
    v1 = actor_loss(ret.detach(), base.detach(), zeros, zeros, w, 2.0, 0.0, 0.0)
    assert v1.item() == pytest.approx(-(2.0 + 1.5) / 2 / 2)


def test_2023_actor_gets_dynamics_gradients_but_never_through_its_own_input():
    torch.manual_seed(0)
    agent = dreamer_agent(
        OBS, ACT, "cpu", **XS, batch_size=2, batch_length=5, horizon=3,
        actor_grad="auto", dynamics_baseline=True, winit="trunc_normal_avg", imag_cont="mode",
    )  # fmt: skip
    assert agent.rho == 0.0  # continuous actions: dynamics backprop
    seen: list[bool] = []
    agent.actor.net.register_forward_pre_hook(lambda m, args: seen.append(args[0].requires_grad))
    start = {
        "deter": torch.randn(4, 16, requires_grad=True),
        "stoch": torch.randn(4, 16),
        "stat": torch.randn(4, 16),
    }
    with torch.enable_grad():
        roll = agent._imagine(start)
    assert seen and not any(seen)  # the actor's input is detached at every imagined step
    # ... yet the imagined features depend on the actor's parameters through the actions
    grads = torch.autograd.grad(
        roll.feat[-1].sum(), list(agent.actor.parameters()), allow_unused=True
    )
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # and the world model is frozen: its parameters record no gradient from imagination
    assert all(not p.requires_grad or p.grad is None for p in agent.world_model.parameters())


# ---- through the entry point: the loop stores, samples and refreshes the latents --------------
def test_current_release_preset_runs_with_replay_context_through_the_entry_point(run_overrides):
    from worldmodels.data.replay import Replay
    from worldmodels.envs.spaces import row_spec
    from worldmodels.train import run

    run_dir = run(
        run_overrides(
            "preset=dreamer_v3",
            "env=dummy",
            "env.task=reach",
            "env.image_size=16",
            "agent.batch_size=4",
            "agent.batch_length=8",
            "agent.horizon=5",
            "trainer.train_ratio=16",
            "logger.tensorboard=false",
            name="current",
        )
    )
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["grad_steps"] > 0
    assert any("agent/repval_loss" in r for r in rows)
    cfg = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"))
    assert isinstance(cfg, dict)
    deter = cfg["size"]["deter"]
    obs = {"image": ArraySpec((16, 16, 3), "uint8"), "vector": ArraySpec((2,), "float32")}
    spec = {
        **row_spec(obs, ActSpec(1, False)),
        "deter": ArraySpec((deter,), "float32"),
        "stoch": ArraySpec((cfg["size"]["stoch"] * cfg["size"]["classes"],), "float32"),
    }
    replay = Replay(spec, 161, 1, extras=("deter", "stoch"))
    replay.load(run_dir / "checkpoint" / "replay")
    stored = replay._data["deter"][0, : len(replay)]  # [rows, D]
    # the policy acted from the first row (no random prefill): the rows hold its latents (the
    # very first one is exactly 0: h = GRU(0, 0, 0) with zero biases at the start)
    nonzero = (stored.abs().amax(-1) > 0).float()
    assert nonzero[0] == 0 and nonzero[1:].mean() > 0.95


def test_current_release_at_size1m_has_the_official_parameter_count():
    """The official code at its dmc_proprio config on cartpole_balance (5 observation dims, 1
    action) reports 637,446 parameters for its optimizer (../shared/peers/official_dreamerv3/
    README.md, measured with its run.sh): encoder, RSSM, decoder, reward, continue, policy and
    value. The same composition here must count exactly as many trainable parameters: every
    layer, width, bias and norm scale of the port matches."""
    from hydra import compose, initialize_config_dir

    from worldmodels.agents.base import build_agent
    from worldmodels.train import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["preset=dreamer_v3", "env=dmc_proprio"])
    agent = build_agent(cfg.agent, {"vector": ArraySpec((5,), "float32")}, ActSpec(1, False), "cpu")
    modules = (agent.world_model, agent.actor, agent.critic)
    count = sum(p.numel() for m in modules for p in m.parameters() if p.requires_grad)
    assert count == 637_446
    # and module by module (the official log's summary: dyn 364,096, dec 49,861, enc 8,896)
    wm = agent.world_model
    parts = {"dyn": wm.rssm, "dec": wm.decoder, "enc": wm.encoder}
    counts = {
        k: sum(p.numel() for p in m.parameters() if p.requires_grad) for k, m in parts.items()
    }
    assert counts == {"dyn": 364_096, "dec": 49_861, "enc": 8_896}


def test_current_release_vision_networks_match_the_official_per_module_counts():
    """The official code (e3f0224) run here with `--configs dmc_vision size1m --task
    dmc_cartpole_balance` (64x64x3 images, 1 action) printed "Optimizer opt has 685,876 params":
    dyn 376,384, dec 80,595, val 66,111, rew 57,663, pol 49,666, con 41,153, enc 14,304. The same
    composition here counts exactly those, module by module (the pooled encoder, the block-linear
    upsampling decoder, the block GRU and every head)."""
    from hydra import compose, initialize_config_dir

    from worldmodels.agents.base import build_agent
    from worldmodels.train import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["preset=dreamer_v3", "size=size1m"])
    obs = {"image": ArraySpec((64, 64, 3), "uint8")}
    agent = build_agent(cfg.agent, obs, ActSpec(1, False), "cpu")
    wm = agent.world_model

    def count(module: torch.nn.Module | None) -> int:
        assert module is not None
        return sum(p.numel() for p in module.parameters() if p.requires_grad)

    counts = {
        "dyn": count(wm.rssm),
        "dec": count(wm.decoder),
        "val": count(agent.critic),
        "rew": count(wm.reward),
        "pol": count(agent.actor),
        "con": count(wm.cont),
        "enc": count(wm.encoder),
    }
    official = {
        "dyn": 376_384,
        "dec": 80_595,
        "val": 66_111,
        "rew": 57_663,
        "pol": 49_666,
        "con": 41_153,
        "enc": 14_304,
    }
    assert counts == official


def test_policy_metrics_report_the_imagined_policys_mode_and_std():
    """agent/policy_mode_mean, policy_mode_abs and policy_std are the bounded normal's mode
    tanh(mean) and std (max - min) sigmoid(raw + 2) + min over the imagined states: with the
    output layers fixed to constants (weights 0) they must equal those constants' images, so a
    drift of the mode to one bound shows in the log. Discrete actors log none of them."""
    agent = make()
    with torch.no_grad():
        for layer, bias in ((agent.actor.mean, [1.0, -0.5]), (agent.actor.std, [-1.0, 0.0])):
            layer.weight.zero_()
            layer.bias.copy_(torch.tensor(bias))
    agent.opt.step = lambda *a, **k: None  # the metrics describe the policy before the step
    metrics = agent.update(batch_for(agent))
    mode = torch.tanh(torch.tensor([1.0, -0.5]))
    std = 0.9 * torch.sigmoid(torch.tensor([-1.0, 0.0]) + 2.0) + 0.1
    assert metrics["agent/policy_mode_mean"].item() == pytest.approx(mode.mean().item(), abs=1e-5)
    assert metrics["agent/policy_mode_abs"].item() == pytest.approx(mode.abs().mean().item(), 1e-5)
    assert metrics["agent/policy_std"].item() == pytest.approx(std.mean().item(), abs=1e-5)
    torch.manual_seed(0)
    discrete = dreamer_agent(OBS, ActSpec(3, True), "cpu", **CURRENT)
    batch = batch_for(discrete)
    batch["action"] = torch.nn.functional.one_hot(batch["action"][..., 0].gt(0).long(), 3).float()
    assert not {"agent/policy_mode_mean", "agent/policy_std"} & set(discrete.update(batch))
