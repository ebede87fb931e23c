"""Recurrent state-space model (PlaNet / Dreamer): a deterministic recurrent path plus a stochastic
latent, with a transition prior p(z_t | h_t) and a representation posterior q(z_t | h_t, e_t).

State: a dict of tensors with the same leading dims ([B] for one step, [B, T] or [H+1, N] for
sequences):
    "deter" [..., D]  the recurrent (GRU) state h_t
    "stoch" [..., Z]  the latent sample z_t (categorical: S one-hots of C classes, flattened, Z=S*C)
    "stat"  [..., P]  raw parameters of the distribution z_t was drawn from (logits / mean+std)

Latent kinds (`latent`):
    "categorical"   S x C one-hot, straight-through sample, `unimix` uniform mix (DreamerV2/V3)
    "gaussian"      S dims, mean and softplus std (+0.1) (PlaNet / DreamerV1)
    "deterministic" S dims, z = mean, no noise; KL becomes 0.5 * squared distance (the RNN
                    ablation: every part of the state is a deterministic function of the inputs)
`recurrent=False` drops the GRU (the SSM ablation, "stochastic only"): h_t = MLP(z_{t-1}, a_{t-1})
carries no memory and the features are z_t alone.

Transition cores (`core`):
    "gru"    the 2023 release: x = dense([z, a]), then a GRU whose gates come from one linear over
             [x, h] and a norm (`GRUCell`; `gru_blocks > 1` makes it block-diagonal)
    "block"  the current release (dreamerv3/rssm.py `_core`, lines 135-159): h, z and a each through
             their own dense layer, concatenated and given to every one of `gru_blocks` groups with
             the group's slice of h, `dyn_layers` block-linear layers + norm, then a block-linear
             layer to the three gates (no norm on the gates)
    "classic" DreamerV1: x = dense([z, a]), then a standard GRU cell (torch.nn.GRUCell, the
             reset-after formulation of Keras' GRUCell that dreamer/models.py line 18 uses)
`recurrent=False` replaces any core with a dense layer on dense([z, a]).
The prior is `img_layers` dense layers on h and a linear to the latent's parameters; the
posterior is `obs_layers` dense layers on [h, e] and a linear (the current release: 2 and 1).
Initial state (`learned_initial`): True gives h0 = tanh(a learned vector) and z0 = the prior's mode
(the 2023 release); False gives h0 = 0, z0 = 0 (V1, V2 and the current release).

Speed: the per-step cells (`_obs_cell`, `_img_cell`) are small pure functions of tensors that
`compile=True` hands to torch.compile; work that does not depend on the recurrence (encoder
projection, prior parameters over a whole sequence) is batched outside the loop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from worldmodels.models.dists import (
    OneHotST,
    categorical_kl,
    gaussian_kl,
    sample_onehot,
    unimix_logits,
    unimix_probs,
)
from worldmodels.models.nets import (
    BlockLinear,
    act_factory,
    dense,
    gate_tanh,
    make_norm,
    norm_kind,
)

State = dict[str, torch.Tensor]
LATENTS = ("categorical", "gaussian", "deterministic")
CORES = ("gru", "block", "classic")


class GRUCell(nn.Module):
    """DreamerV3's GRU: one linear over [input, h] -> LayerNorm -> gates, update-gate bias -1.

    `blocks > 1` makes the recurrent weights block-diagonal (DreamerV3's block GRU): each of the
    `blocks` groups sees the whole input and its own slice of h.
    """

    def __init__(self, inp: int, size: int, norm: bool | str = True, blocks: int = 1):
        super().__init__()
        kind = norm_kind(norm)
        if size % blocks:
            raise ValueError(f"GRU size {size} must be divisible by gru_blocks={blocks}")
        self.size, self.blocks = size, blocks
        per = size // blocks
        if blocks == 1:
            self.linear = nn.Linear(inp + size, 3 * size, bias=kind != "layer")
        else:
            self.weight = nn.Parameter(torch.empty(blocks, inp + per, 3 * per))
            nn.init.xavier_uniform_(self.weight)
        self.norm = make_norm(kind, 3 * per)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        b, g = x.shape[0], self.blocks
        if g == 1:
            parts = self.norm(self.linear(torch.cat([x, h], -1))).reshape(b, 1, 3, self.size)
        else:
            hb = h.reshape(b, g, self.size // g)
            xin = torch.cat([x.unsqueeze(1).expand(b, g, x.shape[-1]), hb], -1)  # [B, G, I+D/G]
            out = torch.einsum("bgi,gio->bgo", xin, self.weight.to(xin.dtype))
            parts = self.norm(out).reshape(b, g, 3, self.size // g)
        reset, cand, update = (parts[:, :, i].reshape(b, self.size) for i in range(3))
        reset = torch.sigmoid(reset)
        cand = gate_tanh(reset * cand)
        update = torch.sigmoid(update - 1.0)
        return update * cand + (1 - update) * h


class BlockCore(nn.Module):
    """The current release's transition core (see the module docstring): (h, z, a) -> h'."""

    def __init__(
        self,
        stoch_dim: int,
        act_dim: int,
        deter: int,
        hidden: int,
        blocks: int = 8,
        layers: int = 1,
        norm: str = "rms",
        act: str = "silu",
    ):
        super().__init__()
        if deter % blocks:
            raise ValueError(f"deter {deter} must be divisible by gru_blocks={blocks}")
        self.deter, self.blocks = deter, blocks
        self.dynin0 = dense(deter, hidden, norm, act)
        self.dynin1 = dense(stoch_dim, hidden, norm, act)
        self.dynin2 = dense(act_dim, hidden, norm, act)
        inp = deter + blocks * 3 * hidden
        hid: list[nn.Module] = []
        for _ in range(layers):
            hid += [BlockLinear(inp, deter, blocks), make_norm(norm, deter), act_factory(act)()]
            inp = deter
        self.hidden_layers = nn.Sequential(*hid)
        self.gates = BlockLinear(inp, 3 * deter, blocks)

    def forward(
        self, deter: torch.Tensor, stoch: torch.Tensor, action: torch.Tensor
    ) -> torch.Tensor:
        b, g = deter.shape[0], self.blocks
        x = torch.cat([self.dynin0(deter), self.dynin1(stoch), self.dynin2(action)], -1)
        x = x.unsqueeze(1).expand(b, g, x.shape[-1])  # [B, G, 3 * hidden]
        x = torch.cat([deter.reshape(b, g, -1), x], -1).reshape(b, -1)  # [B, G * (D/G + 3h)]
        x = self.gates(self.hidden_layers(x)).reshape(b, g, 3, self.deter // g)
        reset, cand, update = (x[:, :, i].reshape(b, self.deter) for i in range(3))
        reset = torch.sigmoid(reset)
        cand = gate_tanh(reset * cand)
        update = torch.sigmoid(update - 1.0)
        return update * cand + (1 - update) * deter


class RSSM(nn.Module):
    """Deterministic GRU path + stochastic latent; see the module docstring for the state layout."""

    def __init__(
        self,
        embed_dim: int,
        act_dim: int,
        deter: int = 512,
        stoch: int = 32,
        classes: int = 32,
        hidden: int = 512,
        latent: str = "categorical",
        unimix: float = 0.01,
        gru_norm: bool = True,
        gru_blocks: int = 1,
        recurrent: bool = True,
        learned_initial: bool = True,
        compile: bool = False,
        core: str = "gru",
        norm: str = "layer",
        act: str = "silu",
        img_layers: int = 1,
        obs_layers: int = 1,
        dyn_layers: int = 1,
    ):
        super().__init__()
        if latent not in LATENTS:
            raise ValueError(f"unknown latent {latent!r}; valid: {', '.join(LATENTS)}")
        if core not in CORES:
            raise ValueError(f"unknown core {core!r}; valid: {', '.join(CORES)}")
        if img_layers < 1 or obs_layers < 1:
            raise ValueError(
                f"img_layers and obs_layers must be >= 1, got {img_layers}, {obs_layers}"
            )
        self.core_kind = core
        self.deter_dim, self.latent, self.stoch, self.classes = deter, latent, stoch, classes
        self.unimix, self.recurrent, self.learned_initial = unimix, recurrent, learned_initial
        self.stoch_dim = stoch * classes if latent == "categorical" else stoch
        self.stat_dim = {"categorical": stoch * classes, "gaussian": 2 * stoch}.get(latent, stoch)
        self.feat_dim = self.stoch_dim + (deter if recurrent else 0)

        kind = norm_kind(norm)
        self.img_in: nn.Module = nn.Identity()
        if not recurrent:  # any core: a memoryless transition MLP (the SSM ablation)
            core = self.core_kind = "gru"
        if core == "block":
            self.core: nn.Module = BlockCore(
                self.stoch_dim, act_dim, deter, hidden, gru_blocks, dyn_layers, kind, act
            )
        elif core == "classic":
            self.img_in = dense(self.stoch_dim + act_dim, hidden, kind, act)
            self.core = nn.GRUCell(hidden, deter)
        elif recurrent:
            self.img_in = dense(self.stoch_dim + act_dim, hidden, kind, act)
            # the gates' norm: LayerNorm even where the dense layers have none (DreamerV2's
            # GRUCell(norm=True) in an RSSM with norm "none"), RMSNorm under norm=rms
            gnorm = ("layer" if kind == "none" else kind) if gru_norm else "none"
            self.core = GRUCell(hidden, deter, norm=gnorm, blocks=gru_blocks)
        else:
            self.img_in = dense(self.stoch_dim + act_dim, hidden, kind, act)
            self.core = dense(hidden, deter, kind, act)
        prior = [dense(deter if i == 0 else hidden, hidden, kind, act) for i in range(img_layers)]
        self.img_out = nn.Sequential(*prior, nn.Linear(hidden, self.stat_dim))
        # Posterior MLP on [h, e]: one linear over the concatenation (the source's obs0, so its
        # init fan-in and its AGC norm are the whole kernel's), applied in two parts so the
        # embedding part is projected for all T at once.
        self.deter_in = deter
        self.obs_in = nn.Linear(deter + embed_dim, hidden, bias=kind != "layer")
        post: list[nn.Module] = [make_norm(kind, hidden), act_factory(act)()]
        post += [dense(hidden, hidden, kind, act) for _ in range(obs_layers - 1)]
        self.obs_out = nn.Sequential(*post, nn.Linear(hidden, self.stat_dim))
        self.init_deter = nn.Parameter(torch.zeros(deter), requires_grad=learned_initial)

        self._obs_cell: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = (
            self._obs_cell_eager
        )
        self._img_cell: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = (
            self._img_cell_eager
        )
        if compile:
            self._obs_cell = torch.compile(self._obs_cell_eager, dynamic=False)
            self._img_cell = torch.compile(self._img_cell_eager, dynamic=False)

    # ---- distributions over z -------------------------------------------------------------
    def _logits(self, stat: torch.Tensor) -> torch.Tensor:
        logits = stat.float().reshape(*stat.shape[:-1], self.stoch, self.classes)
        return unimix_logits(logits, self.unimix)  # [..., S, C]

    def _mean_std(self, stat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stat = stat.float()
        if self.latent == "deterministic":
            return stat, torch.ones_like(stat)
        mean, std = stat.chunk(2, -1)
        return mean, nn.functional.softplus(std) + 0.1

    def sample(self, stat: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """Draw z [..., Z] from the distribution with parameters `stat` (mode if not `sample`)."""
        if self.latent == "categorical" and sample and not torch.is_grad_enabled():
            # No gradient wanted (imagination for a REINFORCE actor, planning, acting): the same
            # distribution without the straight-through terms, by inverse CDF (one uniform per
            # latent instead of a Gumbel per class, no logs): 4x faster at 32 x 4 (RESULTS.md)
            shape = (*stat.shape[:-1], self.stoch, self.classes)
            probs = unimix_probs(stat.float().reshape(shape), self.unimix)
            return sample_onehot(probs).reshape(*stat.shape[:-1], self.stoch_dim).to(stat.dtype)
        if self.latent == "categorical":
            dist = OneHotST(self._logits(stat))
            z = dist.sample() if sample else dist.mode()
            return z.reshape(*stat.shape[:-1], self.stoch_dim).to(stat.dtype)
        mean, std = self._mean_std(stat)
        if self.latent == "gaussian" and sample:
            return (mean + std * torch.randn_like(mean)).to(stat.dtype)
        return mean.to(stat.dtype)

    def kl(self, lhs: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        """KL(lhs || rhs) between latent distributions given their stats [..., P] -> [...]."""
        if self.latent == "categorical":
            return categorical_kl(self._logits(lhs), self._logits(rhs)).sum(-1)
        mq, sq = self._mean_std(lhs)
        mp, sp = self._mean_std(rhs)
        return gaussian_kl(mq, sq, mp, sp).sum(-1)

    def entropy(self, stat: torch.Tensor) -> torch.Tensor:
        """Entropy of the latent distribution [...] (0 for the deterministic latent)."""
        if self.latent == "categorical":
            return OneHotST(self._logits(stat)).entropy().sum(-1)
        if self.latent == "deterministic":
            return torch.zeros(stat.shape[:-1], device=stat.device)
        _, std = self._mean_std(stat)
        return (0.5 * torch.log(2 * torch.pi * torch.e * std**2)).sum(-1)

    # ---- state ---------------------------------------------------------------------------
    def feat(self, state: State) -> torch.Tensor:
        """Features the heads read: [h, z] (or z alone without the recurrent path)."""
        if not self.recurrent:
            return state["stoch"]
        return torch.cat([state["deter"], state["stoch"]], -1)

    def initial(self, batch: int) -> State:
        """Start state [B]: h0 = tanh(learned vector) and z0 = the prior's mode when learned;
        h0 = 0 and z0 = 0 otherwise (V1/V2 and the current DreamerV3 release)."""
        deter = torch.tanh(self.init_deter).unsqueeze(0).expand(batch, -1)
        if not self.learned_initial:
            deter = deter.detach()
        stat = self.img_out(deter)
        if not self.learned_initial:
            stoch = torch.zeros(batch, self.stoch_dim, device=deter.device, dtype=deter.dtype)
            return {"deter": deter, "stoch": stoch, "stat": stat}
        # z0 carries no gradient into the prior head: it is a starting point, not a prediction
        return {"deter": deter, "stoch": self.sample(stat, sample=False).detach(), "stat": stat}

    # ---- per-step cells (compiled when asked) --------------------------------------------
    def _transition(
        self, deter: torch.Tensor, stoch: torch.Tensor, action: torch.Tensor
    ) -> torch.Tensor:
        # Out-of-range continuous actions from an unclipped policy sample are scaled into [-1, 1].
        action = action / action.abs().clamp(min=1.0).detach()
        if self.core_kind == "block":
            return self.core(deter, stoch, action.to(stoch.dtype))
        x = self.img_in(torch.cat([stoch, action.to(stoch.dtype)], -1))
        return self.core(x, deter) if self.recurrent else self.core(x)

    def _obs_cell_eager(
        self,
        deter: torch.Tensor,  # [B, D]
        stoch: torch.Tensor,  # [B, Z]
        action: torch.Tensor,  # [B, A] previous action
        embed_h: torch.Tensor,  # [B, hidden] projected embedding of o_t
        keep: torch.Tensor,  # [B, 1] 0 where o_t starts an episode
        init_deter: torch.Tensor,  # [B, D]
        init_stoch: torch.Tensor,  # [B, Z]
        sample: bool = True,  # False: the posterior's mode (deterministic filtering)
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        deter = deter * keep + init_deter * (1 - keep)
        stoch = stoch * keep + init_stoch * (1 - keep)
        deter = self._transition(deter, stoch, action * keep)
        w = self.obs_in.weight[:, : self.deter_in]  # [hidden, D]
        stat = self.obs_out(nn.functional.linear(deter, w.to(deter.dtype)) + embed_h)
        return deter, self.sample(stat, sample), stat

    def _img_cell_eager(
        self, deter: torch.Tensor, stoch: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        deter = self._transition(deter, stoch, action)
        stat = self.img_out(deter)
        return deter, self.sample(stat), stat

    # ---- rollouts ------------------------------------------------------------------------
    def observe(
        self,
        state: State,  # [B] previous posterior
        embed: torch.Tensor,  # [B, T, E]
        prev_action: torch.Tensor,  # [B, T, A] action taken before o_t
        is_first: torch.Tensor,  # [B, T] bool
        sample: bool = True,
    ) -> tuple[State, torch.Tensor]:
        """Filter a sequence: posteriors [B, T] and prior stats [B, T, P] of the same steps.
        `sample=False` takes each posterior's mode instead of a sample."""
        b, t = is_first.shape
        assert embed.shape[:2] == (b, t) and prev_action.shape[:2] == (b, t), (
            "observe: [B, T] mismatch"
        )
        init = self.initial(b)
        w = self.obs_in.weight[:, self.deter_in :]  # [hidden, E]
        bias = self.obs_in.bias
        embed_h = nn.functional.linear(embed, w, bias)  # [B, T, hidden]
        keep = (1.0 - is_first.to(embed_h.dtype)).unsqueeze(-1)  # [B, T, 1]
        deter, stoch = state["deter"], state["stoch"]
        deters, stochs, stats = [], [], []
        for i in range(t):
            deter, stoch, stat = self._obs_cell(
                deter,
                stoch,
                prev_action[:, i],
                embed_h[:, i],
                keep[:, i],
                init["deter"],
                init["stoch"],
                sample,
            )
            deters.append(deter)
            stochs.append(stoch)
            stats.append(stat)
        post = {
            "deter": torch.stack(deters, 1),
            "stoch": torch.stack(stochs, 1),
            "stat": torch.stack(stats, 1),
        }
        prior_stat = self.img_out(post["deter"])  # [B, T, P]: the prior depends on h_t only
        return post, prior_stat

    def imagine(
        self,
        start: State,  # [N]
        policy_or_actions: Callable[[torch.Tensor], torch.Tensor] | torch.Tensor,
        horizon: int,
    ) -> tuple[State, torch.Tensor]:
        """Roll the prior forward `horizon` steps from `start`.

        Returns states [H+1, N] (index 0 is `start`) and actions [H, N, A] (a_t taken in state t).
        """
        states, actions, _ = self.imagine_features(start, policy_or_actions, horizon)
        return states, actions

    def imagine_features(
        self,
        start: State,  # [N]
        policy_or_actions: Callable[[torch.Tensor], torch.Tensor] | torch.Tensor,
        horizon: int,
    ) -> tuple[State, torch.Tensor, torch.Tensor]:
        """`imagine`, plus the features [H+1, N, F] of the states. Without gradients (the
        current release's REINFORCE actor, planning) the steps write into one feature buffer
        that the policy reads and the heads get, and "deter"/"stoch" are views of it: no
        per-step concatenation for the policy and no stack-then-concatenate of the whole
        rollout (in-place writes would break autograd, so with gradients it stacks)."""
        if torch.is_grad_enabled() or not self.recurrent:
            stacked, taken = self._imagine_stacked(start, policy_or_actions, horizon)
            return stacked, taken, self.feat(stacked)
        deter, stoch = start["deter"], start["stoch"]
        n, d = deter.shape[0], self.deter_dim
        feat = deter.new_empty(horizon + 1, n, self.feat_dim)  # [H+1, N, D + Z]
        feat[0, :, :d] = deter
        feat[0, :, d:] = stoch
        stats, actions = [start["stat"]], []
        for i in range(horizon):
            if callable(policy_or_actions):
                action = policy_or_actions(feat[i])
            else:
                action = policy_or_actions[i]
            deter, stoch, stat = self._img_cell(deter, stoch, action)
            feat[i + 1, :, :d] = deter
            feat[i + 1, :, d:] = stoch
            stats.append(stat)
            actions.append(action)
        states = {"deter": feat[..., :d], "stoch": feat[..., d:], "stat": torch.stack(stats)}
        return states, torch.stack(actions), feat

    def _imagine_stacked(
        self,
        start: State,  # [N]
        policy_or_actions: Callable[[torch.Tensor], torch.Tensor] | torch.Tensor,
        horizon: int,
    ) -> tuple[State, torch.Tensor]:
        deter, stoch = start["deter"], start["stoch"]
        deters, stochs, stats, actions = [deter], [stoch], [start["stat"]], []
        for i in range(horizon):
            if callable(policy_or_actions):
                action = policy_or_actions(self.feat({"deter": deter, "stoch": stoch}))
            else:
                action = policy_or_actions[i]
            deter, stoch, stat = self._img_cell(deter, stoch, action)
            deters.append(deter)
            stochs.append(stoch)
            stats.append(stat)
            actions.append(action)
        states = {
            "deter": torch.stack(deters),
            "stoch": torch.stack(stochs),
            "stat": torch.stack(stats),
        }
        return states, torch.stack(actions)
