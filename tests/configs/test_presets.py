"""preset=dreamer_v3 and preset=dreamer_v3_2023 compose to their official releases, value by value.

Sources (github danijar/dreamerv3): the current release at e3f0224 (`CUR`: dreamerv3/configs.yaml,
dreamerv3/agent.py, dreamerv3/rssm.py, dreamerv3/main.py, embodied/run/train.py,
embodied/core/replay.py) and the 2023 release at 8fa35f8 (`OLD`: dreamerv3/configs.yaml,
dreamerv3/agent.py, dreamerv3/nets.py, dreamerv3/embodied/...). Each row: our key -> (the
published value, file:line, how our key maps to it where name or convention differ). Every key of
the composed `agent` node has a row (keys that do nothing under the preset say so and hold the
value they compose to), so a new agent key needs a row here. Floats compare to 1e-5 relative: the
only value that uses it is gamma, 0.997 for the sources' 1 - 1/333 = 0.996997 (3e-6 apart).
"""

from __future__ import annotations

from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from worldmodels.train import CONFIG_DIR

CUR = "dreamerv3/configs.yaml"  # e3f0224
CUR_AGENT = "dreamerv3/agent.py"
CUR_RSSM = "dreamerv3/rssm.py"
OLD = "old/dreamerv3/configs.yaml"  # 8fa35f8
OLD_AGENT = "old/dreamerv3/agent.py"
OLD_NETS = "old/dreamerv3/nets.py"

Row = tuple[Any, str, str]
WIDTHS = ("units", "layers", "cnn_depth", "deter", "stoch", "classes", "hidden")

#: The current release on DMC; the per-domain rows are in CURRENT_VISION / CURRENT_PROPRIO.
CURRENT: dict[str, Row] = {
    # ---- data, imagination, returns
    "agent.batch_size": (16, f"{CUR}:10", ""),
    "agent.batch_length": (64, f"{CUR}:11", ""),
    "agent.replay_context": (1, f"{CUR}:15", "rows of stored latent before each sequence"),
    "agent.horizon": (15, f"{CUR}:105", "imag_length (our horizon is the imagination length)"),
    "agent.gamma": (1 - 1 / 333, f"{CUR}:106", "horizon 333: disc = 1 - 1/horizon (agent.py:464)"),
    "agent.lam": (0.95, f"{CUR}:108-109", "imag_loss.lam and repl_loss.lam"),
    "agent.contdisc": (True, f"{CUR}:107", "con target *= 1 - 1/horizon (agent.py:175-176)"),
    "agent.imag_cont": ("prob", f"{CUR_AGENT}:206", "self.con(inp, 2).prob(1)"),
    # ---- world model
    "agent.world_model.latent": (
        "categorical",
        f"{CUR_RSSM}:173-176",
        "OneHot over stoch x classes",
    ),
    "agent.world_model.unimix": (0.01, f"{CUR}:91", "rssm.unimix"),
    "agent.world_model.core": ("block", f"{CUR_RSSM}:135-159", "the block GRU, update bias -1"),
    "agent.world_model.gru_blocks": (8, f"{CUR}:91", "rssm.blocks"),
    "agent.world_model.gru_norm": (
        True,
        f"{CUR_RSSM}:141-152",
        "inert for core=block (norms on dynin/dynhid)",
    ),
    "agent.world_model.img_layers": (2, f"{CUR}:91", "rssm.imglayers"),
    "agent.world_model.obs_layers": (1, f"{CUR}:91", "rssm.obslayers"),
    "agent.world_model.dyn_layers": (1, f"{CUR}:91", "rssm.dynlayers"),
    "agent.world_model.recurrent": (True, f"{CUR_RSSM}:80", "deter from _core every step"),
    "agent.world_model.learned_initial": (
        False,
        f"{CUR_RSSM}:45-49",
        "initial: zeros for deter and stoch",
    ),
    "agent.world_model.free_nats": (1.0, f"{CUR}:91", "rssm.free_nats"),
    "agent.world_model.free_nats_mode": ("step", f"{CUR_RSSM}:127-129", "max(KL, free) per step"),
    "agent.world_model.kl_balance": (True, f"{CUR_RSSM}:125-126", "dyn: sg(post); rep: sg(prior)"),
    "agent.world_model.loss_scales": (
        {"image": 1.0, "vector": 1.0, "reward": 1.0, "cont": 1.0, "dyn": 1.0, "rep": 0.1},
        f"{CUR}:86",
        "image/vector = rec (agent.py:80-82), reward = rew, cont = con",
    ),
    "agent.world_model.decoder": (True, f"{CUR}:95-97", "dec.simple"),
    "agent.world_model.cont_head": (True, f"{CUR}:99", "conhead, output binary"),
    "agent.world_model.reward_head": ("twohot", f"{CUR}:98", "rewhead output symexp_twohot"),
    "agent.bins_space": ("symexp", f"{CUR}:98", "symexp_twohot (embodied/jax/heads.py:132)"),
    "agent.bins": (255, f"{CUR}:98,101", "rewhead.bins, value.bins"),
    "agent.world_model.symlog_inputs": (
        True,
        f"{CUR}:94",
        "enc.simple.symlog; decoder symlog_mse (rssm.py:263)",
    ),
    "agent.world_model.enc_layers": (3, f"{CUR}:94,97", "enc.simple.layers = dec.simple.layers"),
    "agent.world_model.enc_units": (
        None,
        f"{CUR}:94,97",
        "None: size.units (enc/dec units, `.*\\.units`)",
    ),
    "agent.world_model.reward_layers": (1, f"{CUR}:98", "rewhead.layers"),
    "agent.world_model.cont_layers": (1, f"{CUR}:99", "conhead.layers"),
    "agent.norm": ("rms", f"{CUR}:91-101", "norm: rms in every module"),
    "agent.act": ("silu", f"{CUR}:91-101", ""),
    "agent.winit": ("trunc_normal_in", f"{CUR}:91-101", "fan-in truncated normal"),
    "agent.world_model.cnn": (
        "pooled",
        f"{CUR}:94,97",
        "kernel 5, strided False: conv + 2x2 max-pool",
    ),
    "agent.world_model.cnn_act": (None, f"{CUR_RSSM}:241", "None: act (silu)"),
    # ---- actor and critic
    "agent.actor_dist": ("auto", f"{CUR}:102-103", "categorical if discrete, else bounded_normal"),
    "agent.actor_grad": ("reinforce", f"{CUR_AGENT}:411-414", "logpi * sg(adv), all actions"),
    "agent.actor_grad_mix": (0.1, "", "inert: actor_grad=reinforce"),
    "agent.dynamics_baseline": (False, "", "inert: no dynamics backprop"),
    "agent.actor_entropy": (3e-4, f"{CUR}:108", "imag_loss.actent"),
    "agent.actor_unimix": (0.01, f"{CUR}:100", "policy.unimix"),
    "agent.actor_outscale": (0.01, f"{CUR}:100", "policy.outscale"),
    "agent.actor_layers": (3, f"{CUR}:100", "policy.layers"),
    "agent.critic_layers": (3, f"{CUR}:101", "value.layers"),
    "agent.critic_head": ("twohot", f"{CUR}:101", "value output symexp_twohot (bins_space)"),
    "agent.slow_critic_decay": (0.98, f"{CUR}:110", "1 - slowvalue.rate 0.02"),
    "agent.slow_critic_every": (1, f"{CUR}:110", "slowvalue.every"),
    "agent.slow_target": (False, f"{CUR}:108-109", "imag_loss/repl_loss slowtar: False"),
    "agent.slow_reg": (1.0, f"{CUR}:108-109", "slowreg"),
    "agent.return_norm": (True, f"{CUR}:111", "retnorm impl perc, 5th-95th percentiles"),
    "agent.return_norm_decay": (0.99, f"{CUR}:111", "1 - retnorm.rate 0.01"),
    "agent.return_norm_limit": (1.0, f"{CUR}:111", "retnorm.limit"),
    "agent.explore_noise": (0.0, f"{CUR_AGENT}:126", "the policy's sample, no noise"),
    "agent.prefill_policy": (True, f"{CUR}:16", "random_agent: False; run/train.py:93-95"),
    # ---- optimization
    "agent.optimizer": ("laprop", f"{CUR_AGENT}:76-78,342-379", "one optimizer over all modules"),
    "agent.laprop_lr": (4e-5, f"{CUR}:87", "opt.lr"),
    "agent.laprop_eps": (1e-20, f"{CUR}:87", "opt.eps"),
    "agent.agc": (0.3, f"{CUR}:87", "opt.agc"),
    "agent.warmup": (1000, f"{CUR}:87", "opt.warmup"),
    "agent.weight_decay": (0.0, f"{CUR}:87", "opt.wd"),
    "agent.ac_loss_scales": (
        {"policy": 1.0, "value": 1.0, "repval": 0.3},
        f"{CUR}:86",
        "loss_scales policy/value/repval",
    ),
    "agent.repval_loss": (True, f"{CUR}:115", ""),
    "agent.model_lr": (1e-4, "", "inert: optimizer=laprop (agent/dreamer.yaml's value)"),
    "agent.model_eps": (1e-8, "", "inert: optimizer=laprop"),
    "agent.model_clip": (1000.0, "", "inert: optimizer=laprop (AGC instead)"),
    "agent.actor_lr": (3e-5, "", "inert: optimizer=laprop"),
    "agent.critic_lr": (3e-5, "", "inert: optimizer=laprop"),
    "agent.ac_eps": (1e-5, "", "inert: optimizer=laprop"),
    "agent.ac_clip": (100.0, "", "inert: optimizer=laprop"),
    "agent.compile": (False, "", "ours: torch.compile, no effect on the math"),
    "agent.cuda_graph": (False, "", "ours: CUDA-graph replay of the same update"),
    # ---- loop, replay, env
    "trainer.train_ratio": (None, "", "None: agent.train_ratio"),
    "trainer.prefill": (
        2048,
        "embodied/run/train.py:71",
        "frames before the first update: len(replay) >= 16 x 64 items (replay.py:55-56 counts "
        f"65-row windows, one per step per stream, lines 108-111) with 16 envs ({CUR}:55): "
        "16 x (128 - 64) after 2048 frames; the policy acts throughout",
    ),
    "replay.sampling": ("uniform", f"{CUR}:42", "fracs uniform 1.0"),
    "trainer.num_envs": (16, f"{CUR}:55", "run.envs (through preset_num_envs)"),
    "replay.capacity": (5_000_000, f"{CUR}:40", "replay.size (through preset_replay_capacity)"),
    "env.action_repeat": (1, f"{CUR}:36", "env.dmc.repeat"),
    "env.image_size": (64, f"{CUR}:36", "env.dmc.size"),
    "env.camera": (
        None,
        f"{CUR}:36",
        "camera -1: 2 for quadruped, else 0 (embodied/envs/dmc.py:16-27)",
    ),
    "env.time_limit": (None, "", "None: dm_control's own 1000 frames"),
}

CURRENT_VISION: dict[str, Row] = {
    "agent.train_ratio": (256, f"{CUR}:187", "dmc_vision run.train_ratio"),
    "env.obs": ("pixels", f"{CUR}:186", "env.dmc.proprio: False"),
    # size200m, the release's default (dmc_vision sets no size)
    "size.deter": (8192, f"{CUR}:91,146", "rssm.deter"),
    "size.hidden": (1024, f"{CUR}:91,146", "rssm.hidden"),
    "size.classes": (64, f"{CUR}:91,146", "rssm.classes"),
    "size.stoch": (32, f"{CUR}:91", "rssm.stoch (no size sets it)"),
    "size.cnn_depth": (64, f"{CUR}:94,147", "enc/dec depth"),
    "size.units": (1024, f"{CUR}:148", "`.*\\.units`: enc, dec and every head"),
    "size.layers": (3, "", "inert: every MLP depth is set per module (agent.*_layers)"),
}

CURRENT_PROPRIO: dict[str, Row] = {
    "agent.train_ratio": (1024, f"{CUR}:182", "dmc_proprio run.train_ratio"),
    "env.obs": ("proprio", f"{CUR}:181", "env.dmc.image: False"),
    # size1m (dmc_proprio: `<<: *size1m`, line 179)
    "size.deter": (512, f"{CUR}:121", ""),
    "size.hidden": (64, f"{CUR}:121", ""),
    "size.classes": (4, f"{CUR}:121", ""),
    "size.stoch": (32, f"{CUR}:91", "rssm.stoch (no size sets it)"),
    "size.cnn_depth": (4, f"{CUR}:122", "inert without pixels"),
    "size.units": (64, f"{CUR}:123", "`.*\\.units`"),
    "size.layers": (3, "", "inert: every MLP depth is set per module (agent.*_layers)"),
}

#: The 2023 release at its DMC setting (dmc_vision / dmc_proprio blocks, lines 167-187).
RELEASE_2023: dict[str, Row] = {
    # ---- data, imagination, returns
    "agent.batch_size": (16, f"{OLD}:61", ""),
    "agent.batch_length": (64, f"{OLD}:62", ""),
    "agent.train_ratio": (512, f"{OLD}:170,181", "run.train_ratio"),
    "agent.replay_context": (0, f"{OLD_AGENT}:153-157", "starts from the carried latent"),
    "agent.horizon": (15, f"{OLD}:87", "imag_horizon"),
    "agent.gamma": (1 - 1 / 333, f"{OLD}:89", "horizon 333: discount 1 - 1/horizon (agent.py:363)"),
    "agent.lam": (0.95, f"{OLD}:90", "return_lambda"),
    "agent.contdisc": (False, f"{OLD_AGENT}:196-197", "discount applied in the weight and return"),
    "agent.imag_cont": ("mode", f"{OLD_AGENT}:194", "heads['cont'](traj).mode()"),
    # ---- world model
    "agent.world_model.latent": ("categorical", f"{OLD}:67", "rssm classes 32"),
    "agent.world_model.unimix": (0.01, f"{OLD}:67", "rssm.unimix"),
    "agent.world_model.core": (
        "gru",
        f"{OLD_NETS}:131-141",
        "Linear([deter, x]) + norm -> gates, bias -1",
    ),
    "agent.world_model.gru_norm": (
        True,
        f"{OLD_NETS}:133-134",
        "the gru Linear carries norm: layer",
    ),
    "agent.world_model.gru_blocks": (1, f"{OLD_NETS}:131-141", ""),
    "agent.world_model.img_layers": (1, f"{OLD_NETS}:118", "img_out"),
    "agent.world_model.obs_layers": (1, f"{OLD_NETS}:96", "obs_out"),
    "agent.world_model.dyn_layers": (1, "", "inert: core=gru"),
    "agent.world_model.recurrent": (True, f"{OLD_NETS}:117", ""),
    "agent.world_model.learned_initial": (
        True,
        f"{OLD}:67",
        "rssm.initial: learned (nets.py:45-49)",
    ),
    "agent.world_model.free_nats": (1.0, f"{OLD}:73-74", "dyn_loss.free, rep_loss.free"),
    "agent.world_model.free_nats_mode": (
        "step",
        f"{OLD_NETS}:169-170,185-186",
        "max(KL, free) per step",
    ),
    "agent.world_model.kl_balance": (True, f"{OLD_NETS}:164,175", "dyn: sg(post); rep: sg(prior)"),
    "agent.world_model.loss_scales": (
        {"image": 1.0, "vector": 1.0, "reward": 1.0, "cont": 1.0, "dyn": 0.5, "rep": 0.1},
        f"{OLD}:72",
        "",
    ),
    "agent.world_model.decoder": (True, f"{OLD}:69", ""),
    "agent.world_model.cont_head": (True, f"{OLD}:71", "dist binary"),
    "agent.world_model.reward_head": ("twohot", f"{OLD}:70", "symlog_disc"),
    "agent.bins_space": ("symlog", f"{OLD_NETS}:480-482", "DiscDist(-20, 20, symlog, symexp)"),
    "agent.bins": (255, f"{OLD}:70,79", ""),
    "agent.world_model.symlog_inputs": (
        True,
        f"{OLD}:68-69",
        "encoder symlog_inputs; vector_dist symlog_mse",
    ),
    "agent.world_model.reward_layers": (
        None,
        f"{OLD}:70,173",
        "None: size.layers (`.*\\.layers: 2`)",
    ),
    "agent.world_model.cont_layers": (None, f"{OLD}:71,173", "None: size.layers"),
    "agent.norm": ("layer", f"{OLD}:67-79", ""),
    "agent.act": ("silu", f"{OLD}:67-79", ""),
    "agent.winit": ("trunc_normal_avg", f"{OLD}:67-79", "winit normal, fan avg (nets.py:657-662)"),
    "agent.world_model.cnn": (
        "strided",
        f"{OLD}:68-69",
        "resnet, cnn_blocks 0, resize stride: 4x4 stride 2",
    ),
    "agent.world_model.cnn_act": (None, f"{OLD}:68", "None: act (silu)"),
    # ---- actor and critic
    "agent.actor_dist": ("auto", f"{OLD}:82-83", "onehot / normal (= our bounded_normal)"),
    "agent.actor_grad": ("auto", f"{OLD}:84-85", "reinforce if discrete, backprop if continuous"),
    "agent.actor_grad_mix": (0.1, "", "inert: actor_grad=auto"),
    "agent.dynamics_baseline": (True, f"{OLD_AGENT}:283-295,365", "-(R - V)/S, V with gradient"),
    "agent.actor_entropy": (3e-4, f"{OLD}:95", "actent"),
    "agent.actor_unimix": (0.01, f"{OLD}:78", "actor.unimix"),
    "agent.actor_outscale": (1.0, f"{OLD}:78", "actor.outscale"),
    "agent.actor_layers": (None, f"{OLD}:78,173", "None: size.layers"),
    "agent.critic_layers": (None, f"{OLD}:79,173", "None: size.layers"),
    "agent.critic_head": ("twohot", f"{OLD}:79", "symlog_disc"),
    "agent.slow_critic_decay": (0.98, f"{OLD}:93", "1 - slow_critic_fraction 0.02"),
    "agent.slow_critic_every": (1, f"{OLD}:92", "slow_critic_update"),
    "agent.slow_target": (False, f"{OLD_AGENT}:365", "returns from self.net, the fast critic"),
    "agent.slow_reg": (1.0, f"{OLD}:72,91", "loss_scales.slowreg, critic_slowreg logprob"),
    "agent.return_norm": (True, f"{OLD}:94", "retnorm perc_ema, 5th-95th percentiles"),
    "agent.return_norm_decay": (0.99, f"{OLD}:94", "retnorm.decay"),
    "agent.return_norm_limit": (1.0, f"{OLD}:94", "retnorm.max"),
    "agent.explore_noise": (0.0, f"{OLD}:60", "expl_behavior None: the policy's sample"),
    "agent.prefill_policy": (False, "old/dreamerv3/embodied/run/train.py:63-65", "random agent"),
    # ---- optimization
    "agent.optimizer": ("adam", f"{OLD}:75,80-81", "model_opt, actor_opt, critic_opt"),
    "agent.model_lr": (1e-4, f"{OLD}:75", ""),
    "agent.model_eps": (1e-8, f"{OLD}:75", ""),
    "agent.model_clip": (1000.0, f"{OLD}:75", "global-norm clip"),
    "agent.actor_lr": (3e-5, f"{OLD}:80", ""),
    "agent.critic_lr": (3e-5, f"{OLD}:81", ""),
    "agent.ac_eps": (1e-5, f"{OLD}:80-81", "actor_opt.eps = critic_opt.eps"),
    "agent.ac_clip": (100.0, f"{OLD}:80-81", "actor_opt.clip = critic_opt.clip"),
    "agent.weight_decay": (0.0, f"{OLD}:75,80-81", "wd"),
    "agent.ac_loss_scales": (
        {"policy": 1.0, "value": 1.0, "repval": 0.3},
        f"{OLD}:72",
        "loss_scales actor 1, critic 1; repval inert (repval_loss false)",
    ),
    "agent.repval_loss": (False, "", "no replay value loss in 2023"),
    "agent.laprop_lr": (4e-5, "", "inert: optimizer=adam"),
    "agent.laprop_eps": (1e-20, "", "inert: optimizer=adam"),
    "agent.agc": (0.3, "", "inert: optimizer=adam"),
    "agent.warmup": (1000, "", "inert: optimizer=adam (the release's Adam warmup is 0, line 75)"),
    "agent.compile": (False, "", "ours: torch.compile, no effect on the math"),
    "agent.cuda_graph": (False, "", "ours: CUDA-graph replay of the same update"),
    # ---- size: the dmc blocks' `small` (lines 171-174 / 182-185)
    "size.deter": (512, f"{OLD}:171,182", "rssm.deter"),
    "size.hidden": (512, f"{OLD}:174,185", "`.*\\.units` matches rssm.units"),
    "size.stoch": (32, f"{OLD}:67", "rssm.stoch"),
    "size.classes": (32, f"{OLD}:67", "rssm.classes"),
    "size.cnn_depth": (32, f"{OLD}:172,183", "`.*\\.cnn_depth`"),
    "size.units": (512, f"{OLD}:174,185", "`.*\\.units`: heads, actor, critic"),
    "size.layers": (2, f"{OLD}:173,184", "`.*\\.layers`: reward, cont, actor, critic"),
    # ---- loop, replay, env
    "trainer.train_ratio": (None, "", "None: agent.train_ratio"),
    "trainer.prefill": (
        2600,
        "old/dreamerv3/embodied/run/train.py:62-65",
        "random steps, 100 at a time over 4 envs, until 1024 64-row windows: 1300 policy steps "
        "x action repeat 2",
    ),
    "trainer.num_envs": (4, f"{OLD}:49", "envs.amount"),
    "replay.sampling": ("uniform", f"{OLD}:7", ""),
    "replay.capacity": (1_000_000, f"{OLD}:8", "replay_size"),
    "env.action_repeat": (2, f"{OLD}:55", "env.dmc.repeat"),
    "env.image_size": (64, f"{OLD}:55", "env.dmc.size"),
    "env.camera": (None, f"{OLD}:55", "camera -1: 2 for quadruped, else 0"),
    "env.time_limit": (None, "", "None: dm_control's own 1000 frames"),
}

RELEASE_2023_VISION: dict[str, Row] = {
    "env.obs": ("pixels", f"{OLD}:175-176", "encoder/decoder cnn_keys image, no mlp_keys"),
    "agent.world_model.enc_layers": (None, f"{OLD}:175", "inert: no vector observation"),
    "agent.world_model.enc_units": (None, f"{OLD}:175", "inert: no vector observation"),
}

RELEASE_2023_PROPRIO: dict[str, Row] = {
    "env.obs": ("proprio", f"{OLD}:186-187", "mlp_keys .*, no cnn_keys"),
    # `.*\.layers` / `.*\.units` do not match mlp_layers / mlp_units (re.match in
    # old/dreamerv3/embodied/core/config.py:111-113): encoder and decoder MLPs keep 5 x 1024
    "agent.world_model.enc_layers": (5, f"{OLD}:68-69", "mlp_layers of encoder and decoder"),
    "agent.world_model.enc_units": (1024, f"{OLD}:68-69", "mlp_units of encoder and decoder"),
}

#: Keys Dreamer's actor and critic share with the world model (configs/agent/dreamer.yaml reads
#: them from agent.world_model): the world model's rows are the agent's.
SHARED = ("norm", "act", "winit", "bins", "bins_space", "compile")
for _table in (CURRENT, RELEASE_2023):
    _table.update({f"agent.world_model.{k}": _table[f"agent.{k}"] for k in SHARED})
CURRENT["agent.world_model.cont_discount"] = (
    1 - 1 / 333,
    f"{CUR}:107",
    "contdisc: the continue target carries the discount 1 - 1/horizon",
)
RELEASE_2023["agent.world_model.cont_discount"] = (
    1.0,
    f"{OLD_AGENT}:196-197",
    "no contdisc: the continue target is 1 - is_terminal",
)

CASES = {
    "v3-vision": ("dreamer_v3", "dmc_vision", {**CURRENT, **CURRENT_VISION}),
    "v3-proprio": ("dreamer_v3", "dmc_proprio", {**CURRENT, **CURRENT_PROPRIO}),
    "v3_2023-vision": ("dreamer_v3_2023", "dmc_vision", {**RELEASE_2023, **RELEASE_2023_VISION}),
    "v3_2023-proprio": ("dreamer_v3_2023", "dmc_proprio", {**RELEASE_2023, **RELEASE_2023_PROPRIO}),
}


def _compose(*overrides: str) -> dict[str, Any]:
    """The config as `python -m worldmodels.train` composes it, resolved."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return {str(k): v for k, v in out.items()}


def _get(cfg: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def _same(ours: Any, published: Any) -> bool:
    if isinstance(published, dict):
        return (
            isinstance(ours, dict)
            and set(ours) == set(published)
            and all(_same(ours[k], v) for k, v in published.items())
        )
    if isinstance(published, bool) or published is None or isinstance(published, str):
        return type(ours) is type(published) and ours == published
    if isinstance(published, float):
        return isinstance(ours, (int, float)) and ours == pytest.approx(published, rel=1e-5)
    return type(ours) is type(published) and ours == published


@pytest.mark.parametrize("case", sorted(CASES))
def test_preset_composes_to_the_release_values(case):
    preset, env, table = CASES[case]
    cfg = _compose(f"preset={preset}", f"env={env}")
    wrong = {
        key: {"ours": _get(cfg, key), "published": value, "source": cite}
        for key, (value, cite, _) in table.items()
        if not _same(_get(cfg, key), value)
    }
    assert not wrong, f"preset={preset} env={env}: ours vs published: {wrong}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_table_covers_every_agent_and_size_key(case):
    preset, env, table = CASES[case]
    cfg = _compose(f"preset={preset}", f"env={env}")
    skip = ("_target_", "world_model", *WIDTHS)
    agent_keys = {f"agent.{k}" for k in cfg["agent"] if k not in skip}
    wm_keys = {f"agent.world_model.{k}" for k in cfg["agent"]["world_model"] if k not in skip}
    size_keys = {f"size.{k}" for k in cfg["size"]}
    assert set(WIDTHS) == set(cfg["size"])
    missing = sorted((agent_keys | wm_keys | size_keys) - set(table))
    assert not missing, f"no table row for {missing}"
    # the world model's widths are the size group's, and so are the actor's and critic's
    assert {k: cfg["agent"]["world_model"][k] for k in WIDTHS} == cfg["size"]
    assert (cfg["agent"]["units"], cfg["agent"]["layers"]) == (
        cfg["size"]["units"],
        cfg["size"]["layers"],
    )
    for key, (_, cite, note) in table.items():
        assert cite or note, f"{key}: a row needs a source or a note"


@pytest.mark.parametrize("env", ["dmc_vision", "dmc_proprio", None])
def test_agent_dreamer_alone_is_the_2023_release(env):
    extra = [f"env={env}"] if env else []
    alone = _compose("agent=dreamer", *extra)
    preset = _compose("agent=dreamer", "preset=dreamer_v3_2023", *extra)
    theirs, ours = dict(preset["agent"]), dict(alone["agent"])
    if env == "dmc_proprio":  # the release's per-domain encoder MLP (configs/protocol/)
        for key in ("enc_layers", "enc_units"):
            published = RELEASE_2023_PROPRIO[f"agent.world_model.{key}"][0]
            assert (ours["world_model"].pop(key), theirs["world_model"].pop(key)) == (
                None,
                published,
            )
    assert ours == theirs
    assert alone["size"] == preset["size"]
    assert alone["env"] == preset["env"]


def test_command_line_values_win_over_the_preset_and_protocol():
    cfg = _compose(
        "preset=dreamer_v3",
        "env=dmc_proprio",
        "size=s",
        "agent.train_ratio=7",
        "env.action_repeat=3",
        "trainer.prefill=77",
        "agent.laprop_lr=1e-3",
    )
    s = {"units": 512, "layers": 2, "cnn_depth": 32, "deter": 512, "stoch": 32}
    assert cfg["size"] == {**s, "classes": 32, "hidden": 512}
    assert {k: cfg["agent"]["world_model"][k] for k in WIDTHS} == cfg["size"]
    assert cfg["agent"]["train_ratio"] == 7
    assert cfg["env"]["action_repeat"] == 3
    assert cfg["trainer"]["prefill"] == 77
    assert cfg["agent"]["laprop_lr"] == 1e-3
    # the rest of the preset stays
    assert cfg["agent"]["optimizer"] == "laprop"
    assert cfg["agent"]["world_model"]["core"] == "block"
    cfg = _compose("preset=dreamer_v3_2023", "env=dmc_proprio", "agent.world_model.enc_layers=2")
    assert cfg["agent"]["world_model"]["enc_layers"] == 2
    assert cfg["agent"]["world_model"]["enc_units"] == 1024


@pytest.mark.parametrize("case", sorted(CASES))
def test_trainer_debug_still_shrinks_under_a_preset(case):
    preset, env, _ = CASES[case]
    cfg = _compose(f"preset={preset}", f"env={env}", "trainer=debug")
    xs = {"units": 64, "layers": 1, "cnn_depth": 8, "deter": 64, "stoch": 8, "classes": 8}
    assert cfg["size"] == {**xs, "hidden": 64}
    assert cfg["trainer"]["prefill"] == 130
    assert cfg["trainer"]["steps"] == 160
    assert cfg["trainer"]["num_envs"] == 1
    # the preset's agent keys stay (only the widths shrink)
    assert cfg["agent"]["optimizer"] == ("laprop" if preset == "dreamer_v3" else "adam")
