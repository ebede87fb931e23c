"""preset=dreamer_v1 and preset=dreamer_v2 compose to their papers' code, value by value.

Sources: DreamerV1 github danijar/dreamer (dreamer.py `define_config` and `_build_model`,
models.py, tools.py); DreamerV2 github danijar/dreamerv2 at 07d906e (dreamerv2/configs.yaml
`defaults` and `dmc_vision`, agent.py, common/nets.py, common/tfutils.py). Each row: our key,
the published value, where it comes from (file:line) and how our key maps where it differs.
"""

from __future__ import annotations

from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from worldmodels.train import CONFIG_DIR

V1 = "dreamer.py"
V1M = "models.py"
V2 = "dreamerv2/configs.yaml"

#: key -> (value, citation, note)
DREAMER_V1: dict[str, tuple[Any, str, str]] = {
    "env.action_repeat": (2, f"{V1}:44", ""),
    "trainer.prefill": (5000, f"{V1}:46", "frames: simulate(prefill / action_repeat), line 429"),
    "size.deter": (200, f"{V1}:50", "deter_size"),
    "size.stoch": (30, f"{V1}:51", "stoch_size"),
    "size.hidden": (200, f"{V1}:221-222", "RSSM(stoch, deter, deter): hidden = deter_size"),
    "size.units": (400, f"{V1}:52", "num_units"),
    "size.cnn_depth": (32, f"{V1}:55", ""),
    "agent.act": ("elu", f"{V1}:53", "dense_act"),
    "agent.world_model.cnn_act": ("relu", f"{V1}:54", ""),
    "agent.world_model.cont_head": (False, f"{V1}:56", "pcont"),
    "agent.world_model.free_nats": (3.0, f"{V1}:57", ""),
    "agent.world_model.free_nats_mode": ("batch", f"{V1}:174-175", "max(mean KL, free nats)"),
    "agent.world_model.kl_balance": (
        False,
        f"{V1}:174",
        "one KL(post || prior), gradients to both",
    ),
    "agent.batch_size": (50, f"{V1}:63", ""),
    "agent.batch_length": (50, f"{V1}:64", ""),
    "agent.train_ratio": (
        500,
        f"{V1}:65-66",
        "100 updates x 2500 rows per 1000 frames (500 steps)",
    ),
    "agent.model_lr": (6e-4, f"{V1}:68", ""),
    "agent.critic_lr": (8e-5, f"{V1}:69", "value_lr"),
    "agent.actor_lr": (8e-5, f"{V1}:70", ""),
    "agent.model_clip": (100.0, f"{V1}:71", "grad_clip"),
    "agent.ac_clip": (100.0, f"{V1}:71", "grad_clip"),
    "agent.model_eps": (1e-7, "tools.py:349", "tf.optimizers.Adam(lr): Keras' epsilon"),
    "agent.ac_eps": (1e-7, "tools.py:349", ""),
    "agent.weight_decay": (0.0, f"{V1}:60", ""),
    "agent.gamma": (0.99, f"{V1}:74", "discount"),
    "agent.lam": (0.95, f"{V1}:75", "disclam"),
    "agent.horizon": (15, f"{V1}:76", ""),
    "agent.actor_dist": ("tanh_normal", f"{V1}:77", "init_std 5 (line 78) in TanhNormal"),
    "agent.explore_noise": (0.3, f"{V1}:79-80", "additive_gaussian, expl_amount"),
    "agent.actor_grad": ("dynamics", f"{V1}:192", "actor_loss = -mean(discount * returns)"),
    "agent.dynamics_baseline": (False, f"{V1}:192", "the return alone, no baseline"),
    "agent.actor_entropy": (0.0, f"{V1}:192", "no entropy term"),
    "agent.return_norm": (False, f"{V1}:192", ""),
    "agent.slow_target": (False, f"{V1}:186-198", "returns bootstrap from the value net"),
    "agent.world_model.reward_layers": (2, f"{V1}:224", "DenseDecoder((), 2, num_units)"),
    "agent.critic_layers": (3, f"{V1}:228", ""),
    "agent.actor_layers": (4, f"{V1}:229-231", "ActionDecoder(actdim, 4, num_units)"),
    "agent.world_model.latent": ("gaussian", f"{V1M}:10-82", "mean and softplus std + 0.1"),
    "agent.world_model.core": ("classic", f"{V1M}:18", "tfkl.GRUCell"),
    "agent.world_model.gru_norm": (False, f"{V1M}:18", ""),
    "agent.norm": ("none", f"{V1M}:61-75", "Dense layers with activation, no norm"),
    "agent.world_model.learned_initial": (False, f"{V1M}:20-26", "zeros"),
    "agent.world_model.cnn": ("valid", f"{V1M}:84-117", "4x4 stride-2 convs, 5/5/6/6 transposed"),
    "agent.world_model.reward_head": (
        "mse",
        f"{V1M}:120-139",
        "DenseDecoder 'normal': unit-variance",
    ),
    "agent.critic_head": ("mse", f"{V1M}:120-139", ""),
    "agent.winit": ("xavier_uniform", f"{V1M}:18-117", "Keras defaults (glorot uniform)"),
    "agent.world_model.symlog_inputs": (False, "", "no symlog before DreamerV3"),
}

DREAMER_V2: dict[str, tuple[Any, str, str]] = {
    "env.action_repeat": (2, f"{V2}:123", "dmc_vision"),
    "trainer.prefill": (2000, f"{V2}:125", "1000 replay steps (policy steps) x action repeat 2"),
    "size.deter": (200, f"{V2}:131", ""),
    "size.hidden": (200, f"{V2}:131", ""),
    "size.stoch": (32, f"{V2}:42", ""),
    "size.classes": (32, f"{V2}:42", "discrete: 32"),
    "size.units": (400, f"{V2}:45,52,53", "heads 400 wide"),
    "size.layers": (4, f"{V2}:45,52,53", "heads 4 deep"),
    "size.cnn_depth": (48, f"{V2}:43-44", ""),
    "agent.act": ("elu", f"{V2}:42-53", ""),
    "agent.norm": ("none", f"{V2}:42-53", ""),
    "agent.world_model.gru_norm": (
        True,
        "dreamerv2/common/nets.py:27",
        "GRUCell(deter, norm=True)",
    ),
    "agent.world_model.core": ("gru", "dreamerv2/common/nets.py:317-345", "update bias -1"),
    "agent.world_model.cnn": ("valid", f"{V2}:43-44", "kernels [4,4,4,4] / [5,5,6,6], stride 2"),
    "agent.world_model.cont_head": (False, f"{V2}:128", "pred_discount: False"),
    "agent.world_model.unimix": (0.0, "", "no uniform mix before DreamerV3"),
    "agent.world_model.kl_balance": (True, f"{V2}:48", "balance 0.8"),
    "agent.world_model.loss_scales.dyn": (
        0.8,
        f"{V2}:48",
        "balance 0.8 on the prior, kl scale 1 (line 47)",
    ),
    "agent.world_model.loss_scales.rep": (0.2, f"{V2}:48", "1 - balance on the posterior"),
    "agent.world_model.free_nats": (1.0, f"{V2}:136", "kl.free"),
    "agent.world_model.free_nats_mode": ("batch", f"{V2}:48", "free_avg: True"),
    "agent.batch_size": (16, f"{V2}:24", ""),
    "agent.batch_length": (50, f"{V2}:24", ""),
    "agent.train_ratio": (160, f"{V2}:20,24", "one update of 16 x 50 rows every 5 policy steps"),
    "agent.model_lr": (3e-4, f"{V2}:132", ""),
    "agent.actor_lr": (8e-5, f"{V2}:133", ""),
    "agent.critic_lr": (8e-5, f"{V2}:134", ""),
    "agent.model_eps": (1e-5, f"{V2}:49", ""),
    "agent.ac_eps": (1e-5, f"{V2}:54-55", ""),
    "agent.model_clip": (100.0, f"{V2}:49", ""),
    "agent.ac_clip": (100.0, f"{V2}:54-55", ""),
    "agent.weight_decay": (1e-6, f"{V2}:49,54,55", "var *= 1 - wd (common/tfutils.py:151)"),
    "agent.actor_entropy": (1e-4, f"{V2}:135", ""),
    "agent.gamma": (0.99, f"{V2}:56", "discount"),
    "agent.lam": (0.95, f"{V2}:57", ""),
    "agent.horizon": (15, f"{V2}:58", "imag_horizon"),
    "agent.actor_grad": ("auto", "dreamerv2/agent.py:215-217", "dynamics if continuous"),
    "agent.actor_dist": ("trunc_normal", "dreamerv2/agent.py:212-214", "onehot if discrete"),
    "agent.slow_target": (True, f"{V2}:62", ""),
    "agent.slow_critic_every": (100, f"{V2}:63", "slow_target_update"),
    "agent.slow_critic_decay": (0.0, f"{V2}:64", "slow_target_fraction 1: a hard copy"),
    "agent.return_norm": (False, f"{V2}:65", "reward_norm momentum 1, scale 1: identity"),
    "agent.world_model.reward_head": ("mse", f"{V2}:45", ""),
    "agent.critic_head": ("mse", f"{V2}:53", ""),
    "agent.explore_noise": (0.0, f"{V2}:33", "expl_noise"),
    "agent.winit": ("xavier_uniform", "dreamerv2/common/nets.py", "Keras defaults"),
    "agent.world_model.learned_initial": (False, "dreamerv2/common/nets.py:30-42", "zeros"),
    "agent.optimizer": ("adam", f"{V2}:49,54,55", ""),
}


def _compose(*overrides: str) -> dict[str, Any]:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return out


def _get(cfg: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


@pytest.mark.parametrize(
    "preset, table", [("dreamer_v1", DREAMER_V1), ("dreamer_v2", DREAMER_V2)], ids=["v1", "v2"]
)
def test_preset_composes_to_the_published_values(preset, table):
    cfg = _compose(f"preset={preset}", "env=dmc_vision")
    wrong = {
        key: (_get(cfg, key), value)
        for key, (value, _, _) in table.items()
        if _get(cfg, key) != pytest.approx(value) and _get(cfg, key) != value
    }
    assert not wrong, f"ours vs published: {wrong}"
