"""DreamerAgent contract: act / update / state_dict round trip, metrics, presets from the config
files, bad options."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from tests.flat_options import dreamer_agent
from worldmodels.agents.base import Agent
from worldmodels.agents.dreamer import DreamerAgent
from worldmodels.envs.spaces import ActSpec, ArraySpec

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
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


def make_batch(obs_spec, act_spec: ActSpec, b: int = 3, t: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    if act_spec.discrete:
        action = torch.nn.functional.one_hot(
            torch.randint(0, act_spec.dim, (b, t), generator=g), act_spec.dim
        ).float()
    else:
        action = torch.rand(b, t, act_spec.dim, generator=g) * 2 - 1
    batch = {
        "action": action,
        "reward": torch.rand(b, t, generator=g),
        "is_first": torch.zeros(b, t, dtype=torch.bool),
        "is_last": torch.zeros(b, t, dtype=torch.bool),
        "is_terminal": torch.zeros(b, t, dtype=torch.bool),
    }
    batch["is_first"][:, 0] = True
    batch["is_first"][0, 3] = True
    batch["is_last"][0, 2] = batch["is_terminal"][0, 2] = True
    for k, s in obs_spec.items():
        if s.dtype == "uint8":
            batch[k] = torch.randint(0, 256, (b, t, *s.shape), dtype=torch.uint8, generator=g)
        else:
            batch[k] = torch.randn(b, t, *s.shape, generator=g)
    return batch


def step_obs(batch, t: int = 0):
    obs = {k: batch[k][:, t] for k in ("image", "vector") if k in batch}
    obs["is_first"] = batch["is_first"][:, t]
    return obs


CONT = ActSpec(2, False)


def make(act_spec=CONT, obs_spec=OBS, **kw) -> DreamerAgent:
    torch.manual_seed(0)
    return dreamer_agent(obs_spec, act_spec, "cpu", **{**XS, **kw})


METRICS = {
    "wm/loss",
    "wm/kl",
    "wm/prior_entropy",
    "wm/post_entropy",
    "wm/grad_norm",
    "agent/actor_loss",
    "agent/critic_loss",
    "agent/return_scale",
    "agent/entropy",
    "agent/actor_grad_norm",
    "agent/critic_grad_norm",
}


@pytest.mark.parametrize("act_spec", [ActSpec(2, False), ActSpec(3, True)])
def test_act_shapes_modes_and_state(act_spec):
    agent = make(act_spec)
    assert isinstance(agent, Agent) and agent.data.kind == "sequences"
    assert (agent.data.batch, agent.data.length) == (3, 6)
    obs = step_obs(make_batch(OBS, act_spec))
    action, state = agent.act(obs, None, "explore")
    assert action.shape == (3, act_spec.dim) and action.dtype == torch.float32
    if act_spec.discrete:
        assert torch.equal(action.sum(-1), torch.ones(3)) and set(action.unique().tolist()) <= {
            0.0,
            1.0,
        }
    else:
        assert action.abs().max() <= 1.0
    latent, prev = state
    assert latent["deter"].shape == (3, 16) and torch.equal(prev, action)
    # eval is the mode of the policy: the same inputs and posterior sample give the same action
    torch.manual_seed(1)
    a1, _ = agent.act(obs, state, "eval")
    torch.manual_seed(1)
    a2, _ = agent.act(obs, state, "eval")
    assert torch.equal(a1, a2)
    with pytest.raises(ValueError, match="explore, eval"):
        agent.act(obs, state, "greedy")


def test_is_first_resets_the_acting_state():
    agent = make()
    batch = make_batch(OBS, ActSpec(2, False))
    _, state = agent.act(step_obs(batch, 0), None, "explore")
    obs = step_obs(batch, 1)
    obs["is_first"] = torch.ones(3, dtype=torch.bool)
    torch.manual_seed(2)
    a_reset, s_reset = agent.act(obs, state, "eval")
    torch.manual_seed(2)
    a_fresh, s_fresh = agent.act(obs, None, "eval")
    assert torch.allclose(a_reset, a_fresh) and torch.allclose(
        s_reset[0]["deter"], s_fresh[0]["deter"]
    )
    obs["is_first"] = torch.zeros(3, dtype=torch.bool)
    torch.manual_seed(2)
    _, s_cont = agent.act(obs, state, "eval")
    assert not torch.allclose(s_cont[0]["deter"], s_fresh[0]["deter"])


@pytest.mark.parametrize("act_spec", [ActSpec(2, False), ActSpec(3, True)])
def test_update_metrics_finite_gradients_and_learning_signal(act_spec):
    agent = make(act_spec)
    batch = make_batch(OBS, act_spec)
    nets = {"world_model": agent.world_model, "actor": agent.actor, "critic": agent.critic}
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in nets.items()}
    metrics = agent.update(batch)
    assert set(metrics) >= METRICS
    assert {f"wm/loss/{k}" for k in ("image", "vector", "reward", "cont", "dyn", "rep")} <= set(
        metrics
    )
    for k, v in metrics.items():
        assert isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad, k
        assert torch.isfinite(v), k
    for name, module in nets.items():
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), name
        changed = any(not torch.equal(a, p) for a, p in zip(before[name], module.parameters()))
        assert changed, f"{name} did not change"
    # the slow critic follows the critic by EMA
    assert any(
        not torch.equal(s, f)
        for s, f in zip(agent.slow_critic.parameters(), agent.critic.parameters())
    )


def test_state_dict_round_trip_resumes_exactly():
    act_spec = ActSpec(2, False)
    a = make(act_spec)
    for seed in range(2):
        a.update(make_batch(OBS, act_spec, seed=seed))
    b = make(act_spec, model_lr=0.5)  # different optimizer settings are overwritten by the load
    buffer = io.BytesIO()  # through bytes, as a checkpoint file: no tensor shared with `a`
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b.load_state_dict(torch.load(buffer, weights_only=False))
    assert b._updates == a._updates == 2
    assert torch.equal(a.return_norm.low_high, b.return_norm.low_high)
    batch = make_batch(OBS, act_spec, seed=7)
    torch.manual_seed(3)
    ma = a.update(batch)
    torch.manual_seed(3)
    mb = b.update(batch)
    for k in ma:
        assert torch.equal(ma[k], mb[k]), k
    for pa, pb in zip(a.actor.parameters(), b.actor.parameters()):
        assert torch.equal(pa, pb)
    sig = a.config_signature()
    assert any(k.startswith("world_model.") for k in sig) and any(
        k.startswith("actor.") for k in sig
    )


def test_video_prediction_and_world_model_config():
    agent = make()
    video = agent.video_prediction(make_batch(OBS, ActSpec(2, False)))
    assert video is not None and video.shape == (6, 16, 48, 3) and video.dtype == torch.uint8
    cfg = agent.world_model.config()
    assert cfg["deter"] == 16 and agent.world_model.act_spec == ActSpec(2, False)
    assert make(decoder=False).video_prediction(make_batch(OBS, ActSpec(2, False))) is None


def test_vector_only_observations():
    obs_spec = {"vector": ArraySpec((4,), "float32")}
    agent = make(obs_spec=obs_spec)
    metrics = agent.update(make_batch(obs_spec, ActSpec(2, False)))
    assert "wm/loss/vector" in metrics and "wm/loss/image" not in metrics
    action, _ = agent.act(step_obs(make_batch(obs_spec, ActSpec(2, False))), None, "explore")
    assert action.shape == (3, 2)


def test_bad_options_fail_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown options \['lr'\] for DreamerAgent.*valid:"):
        make(lr=1.0)
    with pytest.raises(ValueError, match="valid: dynamics, reinforce, mix, auto"):
        make(actor_grad="pathwise")
    with pytest.raises(ValueError, match="valid: twohot, mse"):
        make(critic_head="huber")
    with pytest.raises(ValueError, match="valid: categorical, gaussian, deterministic"):
        make(latent="vq")


def _agent_cfg(*overrides: str) -> dict:
    """The agent config the real composition gives (configs/config.yaml + overrides), size xs,
    without `_target_` and the loop's `train_ratio`."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["size=xs", *overrides])
    agent = OmegaConf.to_container(cfg.agent, resolve=True)
    assert isinstance(agent, dict)
    agent.pop("_target_")
    agent.pop("train_ratio")
    return agent


def test_default_config_is_dreamer_v3_2023_and_size_s_matches_the_paper():
    default = _agent_cfg()
    v3 = _agent_cfg("preset=dreamer_v3_2023")
    assert default == v3
    s = OmegaConf.load(CONFIGS / "size" / "s.yaml")
    assert (s.deter, s.stoch, s.classes, s.units, s.cnn_depth) == (512, 32, 32, 512, 32)
    for name in ("xs", "s", "m", "l", "size1m", "size12m", "size200m", "size400m"):
        keys = set(OmegaConf.load(CONFIGS / "size" / f"{name}.yaml"))
        assert {"units", "layers", "cnn_depth", "deter", "stoch", "classes", "hidden"} <= keys


@pytest.mark.parametrize("preset", ["dreamer_v1", "dreamer_v2", "dreamer_v3", "dreamer_v3_2023"])
@pytest.mark.parametrize("act_spec", [ActSpec(2, False), ActSpec(3, True)])
def test_presets_build_and_update(preset, act_spec):
    cfg = _agent_cfg(f"preset={preset}")
    cfg.update(batch_size=2, batch_length=5, horizon=3)
    torch.manual_seed(0)
    if preset == "dreamer_v1" and act_spec.discrete:
        cfg["actor_dist"] = "auto"  # V1 was continuous-only (tanh-normal)
    # V1/V2's CNN is defined for 64x64 images only
    valid_cnn = cfg["world_model"]["cnn"] == "valid"
    obs = {**OBS, "image": ArraySpec((64, 64, 3), "uint8")} if valid_cnn else OBS
    agent = DreamerAgent(obs, act_spec, "cpu", **cfg)
    t = 5 + agent.data.context
    batch = make_batch(obs, act_spec, b=2, t=t)
    if agent.data.extras:  # replay context: stored latents of the policy
        for k, spec in agent.data.extras.items():
            batch[k] = torch.randn(2, t, *spec.shape)
    metrics = agent.update(batch)
    assert all(torch.isfinite(v) for v in metrics.values())
    expected_latent = {"dreamer_v1": "gaussian"}.get(preset, "categorical")
    assert agent.world_model.rssm.latent == expected_latent
    # V1 has no continue head, V2 none on DMC (pred_discount: False)
    assert ("wm/loss/cont" in metrics) == (preset not in ("dreamer_v1", "dreamer_v2"))
    action, _ = agent.act(step_obs(batch), None, "explore")
    assert action.shape == (2, act_spec.dim)
