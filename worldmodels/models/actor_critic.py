"""Networks only the model-free heads (DQN, SAC, TD3, PPO) use: the observation encoder with DrQ
random-shift augmentation, twin Q ensembles, the dueling Q head, policy heads (tanh-Gaussian,
deterministic, Gaussian, categorical), running observation normalization, and the small helpers
they share (action-space and mode checks). Optimization helpers live in models/optim.py,
log-probabilities and entropies in models/dists.py.

Shapes: B batch, E ensemble members (twin Q: E = 2), A action dims, F encoder features.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from worldmodels.envs.spaces import IMAGE_KEY, VECTOR_KEY, ActSpec, ObsSpec
from worldmodels.models.nets import ConvEncoder, mlp

# Activations only ever follow a Linear (or LayerNorm) inside `mlp`/`EnsembleQ`, whose backward
# does not read its output, so ReLU and ELU (whose backward reads their own result) run in place:
# one [B, units] buffer less to allocate and write per layer, 7-9% of a SAC/TD3 update on CPU.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": partial(nn.ReLU, inplace=True),
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "elu": partial(nn.ELU, inplace=True),
}


def activation(name: str) -> Callable[[], nn.Module]:
    """Activation module factory by config name."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid options: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def check_mode(mode: str) -> None:
    """`act` modes: "explore" (stochastic / noisy) or "eval" (deterministic)."""
    if mode not in ("explore", "eval"):
        raise ValueError(f"unknown act mode {mode!r}; valid options: ['explore', 'eval']")


def check_action_space(act_spec: ActSpec, discrete: bool | None, agent: str) -> None:
    """Fail early when a head is paired with an action space it cannot drive."""
    if discrete is not None and act_spec.discrete != discrete:
        kind = "discrete (one-hot)" if discrete else "continuous"
        got = "discrete" if act_spec.discrete else "continuous"
        raise ValueError(
            f"{agent} needs {kind} actions, got a {got} action space of dim {act_spec.dim}"
        )


def random_shift(image: torch.Tensor, pad: int) -> torch.Tensor:
    """DrQ augmentation: shift each image by a random integer offset in [-pad, pad] per axis,
    replicating the edge (same as replicate-pad by `pad` then a random crop back to H x W).

    image: [B, H, W, C] (any dtype; uint8 stays uint8, so the gather moves 1 byte per pixel).
    """
    B, H, W, _ = image.shape
    dev = image.device
    shift = torch.randint(-pad, pad + 1, (2, B, 1), device=dev)  # [2, B, 1]
    rows = (torch.arange(H, device=dev) + shift[0]).clamp_(0, H - 1)  # [B, H]
    cols = (torch.arange(W, device=dev) + shift[1]).clamp_(0, W - 1)  # [B, W]
    b = torch.arange(B, device=dev)[:, None, None]
    return image[b, rows[:, :, None], cols[:, None, :]]  # [B, H, W, C]


class ObsEncoder(nn.Module):
    """Observation dict -> features [B, F]: the CNN on "image" (random shift when `augment`), the
    raw "vector" (the heads' MLPs process it), concatenated in that order."""

    def __init__(self, obs_spec: ObsSpec, cnn_depth: int = 32, aug_pad: int = 4, norm: bool = True):
        super().__init__()
        unknown = set(obs_spec) - {IMAGE_KEY, VECTOR_KEY}
        if unknown or not obs_spec:
            raise ValueError(
                f"obs keys must be among {[IMAGE_KEY, VECTOR_KEY]}, got {sorted(obs_spec)}"
            )
        self.aug_pad = aug_pad
        self.cnn: ConvEncoder | None = None
        self.vector_dim = 0
        out = 0
        if IMAGE_KEY in obs_spec:
            shape = obs_spec[IMAGE_KEY].shape
            self.cnn = ConvEncoder((shape[0], shape[1], shape[2]), depth=cnn_depth, norm=norm)
            out += self.cnn.out_dim
        if VECTOR_KEY in obs_spec:
            self.vector_dim = obs_spec[VECTOR_KEY].shape[0]
            out += self.vector_dim
        self.out_dim = out

    @property
    def has_image(self) -> bool:
        return self.cnn is not None

    def forward(self, obs: dict[str, torch.Tensor], augment: bool = False) -> torch.Tensor:
        parts = []
        if self.cnn is not None:
            image = obs[IMAGE_KEY]  # [B, H, W, C] uint8
            if augment and self.aug_pad > 0:
                image = random_shift(image, self.aug_pad)
            parts.append(self.cnn(image))  # [B, F_img]
        if self.vector_dim:
            parts.append(obs[VECTOR_KEY].float())  # [B, D]
        return parts[0] if len(parts) == 1 else torch.cat(parts, -1)


class RunningMeanStd(nn.Module):
    """Running mean / variance of vectors (parallel-moments update), for observation normalization.

    The statistics are buffers, so they travel with `state_dict`; `update` is called by the owner
    (PPO updates it once per rollout, never while acting).
    """

    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor

    def __init__(self, dim: int, clip: float = 10.0, eps: float = 1e-8):
        super().__init__()
        self.clip, self.eps = clip, eps
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("count", torch.tensor(1e-4))

    @torch.no_grad()
    def update(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> None:
        """x: [N, D]; weight: optional [N] 0/1 mask of the rows to count (static shapes, no
        host sync)."""
        w = torch.ones(x.shape[0], device=x.device) if weight is None else weight.float()
        n = w.sum().clamp_min(1.0)
        mean = (w[:, None] * x).sum(0) / n
        var = (w[:, None] * (x - mean) ** 2).sum(0) / n
        delta = mean - self.mean
        total = self.count + n
        m2 = self.var * self.count + var * n + delta**2 * self.count * n / total
        self.mean.add_(delta * n / total)
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / torch.sqrt(self.var + self.eps)).clamp(-self.clip, self.clip)


def make_trunk(in_dim: int, trunk_dim: int) -> tuple[nn.Module, int]:
    """DrQ-v2's trunk on CNN features: Linear -> LayerNorm -> Tanh down to `trunk_dim` (each head
    owns one). `trunk_dim=0` means identity (vector inputs go straight into the head's MLP).
    Returns the module and its output width."""
    if trunk_dim <= 0:
        return nn.Identity(), in_dim
    return nn.Sequential(
        nn.Linear(in_dim, trunk_dim), nn.LayerNorm(trunk_dim), nn.Tanh()
    ), trunk_dim


class EnsembleLinear(nn.Module):
    """E independent Linear layers applied as one batched matmul: [E, B, I] -> [E, B, O]."""

    def __init__(self, members: int, in_dim: int, out_dim: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)  # nn.Linear's default init, member by member
        self.weight = nn.Parameter(torch.empty(members, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members = x.shape[0]  # the first `members` layers (TD3's actor loss reads Q1 only)
        return torch.baddbmm(self.bias[:members], x, self.weight[:members])


class EnsembleQ(nn.Module):
    """E critics Q_e(feat, action) in one pass (twin Q for SAC/TD3): -> [E, B].

    Hidden layers are Linear -> (LayerNorm) -> activation, as `nets.mlp`, batched over members.
    """

    def __init__(
        self,
        in_dim: int,
        act_dim: int,
        units: int,
        layers: int,
        members: int = 2,
        norm: bool = False,
        act: str = "relu",
        trunk_dim: int = 0,
    ):
        super().__init__()
        self.members = members
        self.trunk, in_dim = make_trunk(in_dim, trunk_dim)
        mods: list[nn.Module] = []
        dim = in_dim + act_dim
        for _ in range(layers):
            mods.append(EnsembleLinear(members, dim, units))
            if norm:
                mods.append(nn.LayerNorm(units, eps=1e-3, elementwise_affine=False))
            mods.append(activation(act)())
            dim = units
        mods.append(EnsembleLinear(members, dim, 1))
        self.net = nn.Sequential(*mods)

    def forward(
        self, feat: torch.Tensor, action: torch.Tensor, members: int | None = None
    ) -> torch.Tensor:
        """Q values [E, B] of the first `members` critics (all by default)."""
        x = torch.cat([self.trunk(feat), action], -1)  # [B, F + A]
        x = x.unsqueeze(0).expand(members or self.members, *x.shape)  # [E, B, F + A]
        return self.net(x).squeeze(-1)  # [E, B]


class DuelingQ(nn.Module):
    """Dueling head: Q(s, a) = V(s) + A(s, a) - mean_a A(s, a) -> [B, A] (Wang et al. 2016)."""

    def __init__(
        self,
        in_dim: int,
        n_actions: int,
        units: int,
        layers: int,
        norm: bool = False,
        act: str = "relu",
        trunk_dim: int = 0,
    ):
        super().__init__()
        trunk, in_dim = make_trunk(in_dim, trunk_dim)
        self.trunk = nn.Sequential(
            trunk, mlp(in_dim, None, units, layers, norm=norm, act=activation(act))
        )
        hidden = units if layers > 0 else in_dim
        self.value = nn.Linear(hidden, 1)
        self.advantage = nn.Linear(hidden, n_actions)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        h = self.trunk(feat)  # [B, U]
        adv = self.advantage(h)  # [B, A]
        return self.value(h) + adv - adv.mean(-1, keepdim=True)  # [B, A]


class TanhGaussianActor(nn.Module):
    """SAC policy: feat -> (mean, log_std) [B, A] of a Gaussian squashed by tanh.

    log_std is bounded smoothly into [log_std_min, log_std_max] by a tanh (as SpinningUp/DrQ),
    which keeps early updates from exploding the variance.
    """

    def __init__(
        self,
        in_dim: int,
        act_dim: int,
        units: int,
        layers: int,
        norm: bool = False,
        act: str = "relu",
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
        trunk_dim: int = 0,
    ):
        super().__init__()
        trunk, in_dim = make_trunk(in_dim, trunk_dim)
        self.net = nn.Sequential(
            trunk, mlp(in_dim, 2 * act_dim, units, layers, norm=norm, act=activation(act))
        )
        self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.net(feat).chunk(2, -1)  # [B, A] each
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
            torch.tanh(raw) + 1
        )
        return mean, log_std


class DeterministicActor(nn.Module):
    """TD3 policy: feat -> tanh(mlp(feat)) in [-1, 1]^A."""

    def __init__(
        self,
        in_dim: int,
        act_dim: int,
        units: int,
        layers: int,
        norm: bool = False,
        act: str = "relu",
        trunk_dim: int = 0,
    ):
        super().__init__()
        trunk, in_dim = make_trunk(in_dim, trunk_dim)
        self.net = nn.Sequential(
            trunk, mlp(in_dim, act_dim, units, layers, norm=norm, act=activation(act))
        )

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(feat))  # [B, A]


class GaussianActor(nn.Module):
    """PPO continuous policy: feat -> mean [B, A], with a state-independent learned log std [A]."""

    def __init__(
        self,
        in_dim: int,
        act_dim: int,
        units: int,
        layers: int,
        norm: bool = False,
        act: str = "tanh",
        init_log_std: float = 0.0,
    ):
        super().__init__()
        self.net = mlp(in_dim, act_dim, units, layers, norm=norm, act=activation(act))
        self.log_std = nn.Parameter(torch.full((act_dim,), init_log_std))
        orthogonal_init(self.net, out_gain=0.01)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.net(feat)  # [B, A]
        return mean, self.log_std.expand_as(mean)


def orthogonal_init(net: nn.Sequential, gain: float = math.sqrt(2), out_gain: float = 1.0) -> None:
    """PPO's usual init (CleanRL): orthogonal weights, zero biases, a small last layer."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears):
        nn.init.orthogonal_(layer.weight, out_gain if i == len(linears) - 1 else gain)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
