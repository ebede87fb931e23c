"""Distributions and transforms the world model and the actor-critic share.

- `symlog` / `symexp`: DreamerV3's squashing of targets and vector inputs.
- `TwoHot`: discrete regression over `bins` in symlog space (DreamerV3 reward and value heads).
- `MSEDist`: a unit-variance Gaussian used as "predict the mean" regression (V1/V2 heads).
- `Bernoulli`: the continue head.
- `OneHotST`: categorical over one-hot vectors with a uniform mix (`unimix`) and straight-through
  gradients for samples and modes (categorical latents, discrete actions).
- `BoundedNormal`: tanh mean, sigmoid-bounded std (DreamerV3 continuous actor).
- `TanhNormal`: a Gaussian pushed through tanh (DreamerV1 continuous actor).
- the model-free heads' policy math on raw tensors: `tanh_gaussian_sample` (SAC),
  `gaussian_log_prob` / `clipped_gaussian_log_prob` / `gaussian_entropy` and
  `categorical_log_prob` / `categorical_entropy` (PPO).

All are plain classes over tensors (no torch.distributions), so they trace under torch.compile and
never sync with the host. Logits are cast to float32 before use (bf16 autocast on CUDA).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def symlog(x: torch.Tensor) -> torch.Tensor:
    """sign(x) * log(1 + |x|): compresses large magnitudes, identity-like near 0."""
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    """Inverse of `symlog`."""
    return torch.sign(x) * torch.expm1(x.abs())


def one_hot(index: torch.Tensor, num: int) -> torch.Tensor:
    """float one-hot [..., num] by comparison (F.one_hot validates its input with a host sync on
    CUDA; this does not)."""
    return (index.unsqueeze(-1) == torch.arange(num, device=index.device)).float()


TWOHOT_SPACES = ("symlog", "symexp")


def twohot_bins(
    num: int = 255, low: float = -20.0, high: float = 20.0, device=None, space: str = "symlog"
) -> torch.Tensor:
    """Bin centres [num] of a two-hot head.

    "symlog" (2023 release): evenly spaced in symlog space from `low` to `high`; targets are
    encoded after symlog. "symexp" (current release, embodied/jax/heads.py `symexp_twohot`, lines
    132-144): symexp of evenly spaced points on [-20, 0], mirrored around an exact 0, so the bins
    live in the raw value space and targets are encoded as they are.
    """
    if space == "symlog":
        return torch.linspace(low, high, num, device=device)
    if space != "symexp":
        raise ValueError(f"unknown two-hot bin space {space!r}; valid: {', '.join(TWOHOT_SPACES)}")
    if num % 2 == 1:
        half = symexp(torch.linspace(-20.0, 0.0, (num - 1) // 2 + 1, device=device))
        return torch.cat([half, -half[:-1].flip(0)])
    half = symexp(torch.linspace(-20.0, 0.0, num // 2, device=device))
    return torch.cat([half, -half.flip(0)])


def twohot_indices(
    x: torch.Tensor, bins: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The two bins of each value `x` [...] (in bin space) and their weights: (below, above,
    w_below, w_above), each [...]. The source's rule (embodied/jax/outs.py `TwoHot.loss`):
    below = #(bins <= x) - 1, above = K - #(bins > x), clipped to the ends; one binary search
    (searchsorted) finds both instead of two comparisons against all K bins."""
    k = bins.shape[0]
    count_le = torch.searchsorted(bins, x.contiguous(), right=True)  # #(bins <= x)
    below = (count_le - 1).clamp(0, k - 1)
    above = count_le.clamp(0, k - 1)  # K - #(bins > x) == #(bins <= x)
    equal = below == above
    dist_below = torch.where(equal, torch.ones_like(x), (bins[below] - x).abs())
    dist_above = torch.where(equal, torch.ones_like(x), (bins[above] - x).abs())
    total = dist_below + dist_above
    return below, above, dist_above / total, dist_below / total


def twohot_encode(x: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Two-hot encode values `x` [...] (already in bin space) onto `bins` [K] -> weights [..., K].

    The two nearest bins share the mass in proportion to closeness, so sum(w * bins) == x inside
    the bin range (values outside are clipped to the end bins).
    """
    k = bins.shape[0]
    below, above, w_below, w_above = twohot_indices(x, bins)
    return one_hot(below, k) * w_below.unsqueeze(-1) + one_hot(above, k) * w_above.unsqueeze(-1)


class TwoHot:
    """Discrete regression over `bins`; `mean` is in the original value space.

    `space="symlog"`: bins live in symlog space (`mean` = symexp of the expectation, targets
    encoded after symlog). `space="symexp"`: bins live in the raw space (symexp-spaced, see
    `twohot_bins`), targets are encoded raw, and `mean` is the expectation summed symmetrically
    from both ends toward the centre bin, so uniform probabilities give exactly 0 (the source's
    `TwoHot.pred`, embodied/jax/outs.py lines 285-309). `log_prob(target)` is the cross-entropy
    against the two-hot encoding of the target.
    """

    def __init__(self, logits: torch.Tensor, bins: torch.Tensor, space: str = "symlog"):
        # contiguous: the padded output layer hands a [..., :K] view, and softmax and
        # log_softmax over a strided last dim run at half speed on CPU
        self.logits = logits.float().contiguous()  # [..., K]
        self.bins = bins
        self.space = space
        self._logp: torch.Tensor | None = None

    def _log_probs(self) -> torch.Tensor:
        """log_softmax of the logits, computed once (the critic's loss takes two log-probs of
        the same output: the return target and the slow critic's regularizer)."""
        if self._logp is None:
            self._logp = torch.log_softmax(self.logits, -1)
        return self._logp

    @property
    def mean(self) -> torch.Tensor:
        probs = torch.softmax(self.logits, -1)
        if self.space == "symlog":
            return symexp((probs * self.bins).sum(-1))
        n = self.bins.shape[0]
        m = n // 2
        lo = (probs[..., :m] * self.bins[:m]).flip(-1)  # from the centre outward
        if n % 2 == 1:
            hi = probs[..., m + 1 :] * self.bins[m + 1 :]
            return probs[..., m] * self.bins[m] + (lo + hi).sum(-1)
        return (lo + probs[..., m:] * self.bins[m:]).sum(-1)

    def mode(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, target: torch.Tensor) -> torch.Tensor:
        target = target.float()
        encoded = symlog(target) if self.space == "symlog" else target
        # sum_k twohot(target)_k * log p_k has two non-zero terms: gather them instead of
        # materializing the [..., K] encoding (same value and gradient, far fewer ops)
        below, above, w_below, w_above = twohot_indices(encoded, self.bins)
        logp = self._log_probs()  # [..., K]
        lp_below = logp.gather(-1, below.unsqueeze(-1)).squeeze(-1)
        lp_above = logp.gather(-1, above.unsqueeze(-1)).squeeze(-1)
        return w_below * lp_below + w_above * lp_above


class MSEDist:
    """Squared-error regression (DreamerV3's "mse" distribution): log_prob = -sum of squared errors
    over the last `dims` dims (0 for scalars), optionally in symlog space. A unit-variance Gaussian
    has half this log-prob (plus a constant); the V1/V2 presets halve the loss scales to match."""

    def __init__(self, mean: torch.Tensor, dims: int = 0, use_symlog: bool = False):
        self._pred = mean.float()
        self.dims = dims
        self.use_symlog = use_symlog

    @property
    def mean(self) -> torch.Tensor:
        return symexp(self._pred) if self.use_symlog else self._pred

    def mode(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, target: torch.Tensor) -> torch.Tensor:
        target = symlog(target.float()) if self.use_symlog else target.float()
        sq = (self._pred - target) ** 2
        if self.dims:
            sq = sq.sum(tuple(range(-self.dims, 0)))
        return -sq


class Bernoulli:
    """Bernoulli from logits; `mean` is the probability of 1."""

    def __init__(self, logits: torch.Tensor):
        self.logits = logits.float()

    @property
    def mean(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    def mode(self) -> torch.Tensor:
        return (self.logits > 0).float()

    def log_prob(self, target: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(self.logits, target.float(), reduction="none")


def unimix_probs(logits: torch.Tensor, unimix: float) -> torch.Tensor:
    """(1 - unimix) * softmax(logits) + unimix / K [..., K]: every class probability stays above
    unimix / K so KLs and log-probs stay bounded (DreamerV3). The softmax is written out because
    torch's CPU softmax over a last dim of a few classes is 3x slower than exp and two reductions
    (measured at [1024, 32, 4], RESULTS.md)."""
    e = (logits - logits.amax(-1, keepdim=True)).exp()
    probs = e / e.sum(-1, keepdim=True)
    return probs if unimix <= 0 else (1 - unimix) * probs + unimix / logits.shape[-1]


def unimix_logits(logits: torch.Tensor, unimix: float) -> torch.Tensor:
    """log of `unimix_probs` (log_softmax without a mix)."""
    logits = logits.float()
    if unimix <= 0:
        return torch.log_softmax(logits, -1)
    return torch.log(unimix_probs(logits, unimix))


def sample_onehot(probs: torch.Tensor) -> torch.Tensor:
    """One-hot draws [..., K] from categorical probabilities [..., K], without gradients (the
    straight-through sample is `OneHotST.sample`): inverse CDF with one uniform per draw. The
    uniform is scaled by the last CDF entry so rounding in the sum cannot push it past K - 1."""
    cdf = probs.cumsum(-1)  # [..., K]
    u = torch.rand_like(cdf[..., :1]) * cdf[..., -1:]  # [..., 1] in [0, total)
    idx = (cdf <= u).sum(-1).clamp(max=probs.shape[-1] - 1)
    return one_hot(idx, probs.shape[-1])


class OneHotST:
    """Categorical over one-hot vectors [..., K] with straight-through gradients.

    `sample()` draws a one-hot (Gumbel-max, no host sync) and adds `probs - sg(probs)`, so the value
    is exactly one-hot while gradients flow as if it were `probs`. `logits` passed in are already
    normalized (see `unimix_logits`).
    """

    def __init__(self, logits: torch.Tensor):
        self.logits = torch.log_softmax(logits.float(), -1)  # [..., K]
        self.probs = self.logits.exp()

    def _st(self, onehot: torch.Tensor) -> torch.Tensor:
        return onehot + self.probs - self.probs.detach()

    def mode(self) -> torch.Tensor:
        return self._st(one_hot(self.logits.argmax(-1), self.logits.shape[-1]))

    def sample(self) -> torch.Tensor:
        u = torch.rand_like(self.logits).clamp(1e-6, 1 - 1e-6)
        idx = (self.logits - torch.log(-torch.log(u))).argmax(-1)
        return self._st(one_hot(idx, self.logits.shape[-1]))

    rsample = sample

    def log_prob(self, onehot: torch.Tensor) -> torch.Tensor:
        return (onehot * self.logits).sum(-1)

    def entropy(self) -> torch.Tensor:
        return -(self.probs * self.logits).sum(-1)


def categorical_kl(lhs_logits: torch.Tensor, rhs_logits: torch.Tensor) -> torch.Tensor:
    """KL(lhs || rhs) of categoricals given normalized log-probs [..., K] -> [...]."""
    return (lhs_logits.exp() * (lhs_logits - rhs_logits)).sum(-1)


def gaussian_kl(
    mean_q: torch.Tensor, std_q: torch.Tensor, mean_p: torch.Tensor, std_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(mean_q, std_q) || N(mean_p, std_p)) per dim (diagonal Gaussians), same shape."""
    var_ratio = (std_q / std_p) ** 2
    t1 = ((mean_q - mean_p) / std_p) ** 2
    return 0.5 * (var_ratio + t1 - 1 - torch.log(var_ratio))


class _Normal:
    """Diagonal Gaussian over the last dim (log_prob/entropy summed over it)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        self.loc = mean
        self.std = std

    def rsample(self) -> torch.Tensor:
        return self.loc + self.std * torch.randn_like(self.loc)

    def base_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.loc) / self.std
        return (-0.5 * z**2 - torch.log(self.std) - 0.5 * math.log(2 * math.pi)).sum(-1)


class BoundedNormal(_Normal):
    """DreamerV3's continuous actor: mean = tanh(raw), std = (max - min) * sigmoid(raw + 2) + min.

    Samples are not clipped (the RSSM scales actions by 1 / max(1, |a|), the agent clips before the
    env), so `log_prob` of a sample is exact.
    """

    def __init__(self, raw: torch.Tensor, min_std: float = 0.1, max_std: float = 1.0):
        mean, std = raw.float().chunk(2, -1)
        super().__init__(torch.tanh(mean), (max_std - min_std) * torch.sigmoid(std + 2.0) + min_std)

    sample = _Normal.rsample

    def mode(self) -> torch.Tensor:
        return self.loc

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_log_prob(x)

    def entropy(self) -> torch.Tensor:
        return (0.5 * math.log(2 * math.pi * math.e) + torch.log(self.std)).sum(-1)


class TanhNormal(_Normal):
    """DreamerV1's continuous actor: a = tanh(u), u ~ N(5 tanh(m / 5), softplus(s + init) + min)."""

    def __init__(self, raw: torch.Tensor, init_std: float = 5.0, min_std: float = 1e-4):
        mean, std = raw.float().chunk(2, -1)
        raw_init = math.log(math.exp(init_std) - 1)
        super().__init__(5 * torch.tanh(mean / 5), F.softplus(std + raw_init) + min_std)

    def rsample(self) -> torch.Tensor:
        return torch.tanh(super().rsample())

    sample = rsample

    def mode(self) -> torch.Tensor:
        return torch.tanh(self.loc)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(-0.999999, 0.999999)
        u = torch.atanh(x)
        # change of variables: log|d tanh(u) / du| = 2 (log 2 - u - softplus(-2u))
        log_det = (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return self.base_log_prob(u) - log_det

    def entropy(self) -> torch.Tensor:
        """Single-sample estimate (no closed form): -log p(a) for a fresh sample."""
        return -self.log_prob(self.rsample())


class TruncNormal(_Normal):
    """DreamerV2's continuous actor on DMC (dreamerv2/common/nets.py `DistLayer`, dist
    "trunc_normal", lines 350-386, and common/dists.py `TruncNormalDist`, lines 72-87): a normal
    with mean tanh(raw) and std 2 * sigmoid((raw_std + init_std) / 2) + min_std (init_std 0,
    min_std 0.1: the DistLayer defaults), truncated to [-1, 1].

    Samples are reparameterized by the inverse CDF, u ~ U(Phi(alpha), Phi(beta)) and
    x = mean + std * Phi^-1(u), so gradients reach mean and std; like the source they are clipped
    to [-1 + 1e-6, 1 - 1e-6] with a straight-through gradient. `entropy` is the closed form of
    the truncated normal.
    """

    low, high, clip = -1.0, 1.0, 1e-6

    def __init__(self, raw: torch.Tensor, min_std: float = 0.1):
        mean, std = raw.float().chunk(2, -1)
        super().__init__(torch.tanh(mean), 2 * torch.sigmoid(std / 2) + min_std)
        self.alpha = (self.low - self.loc) / self.std
        self.beta = (self.high - self.loc) / self.std
        self.cdf_a = torch.special.ndtr(self.alpha)
        self.mass = (torch.special.ndtr(self.beta) - self.cdf_a).clamp(min=1e-8)  # Z

    def rsample(self) -> torch.Tensor:
        u = torch.rand_like(self.loc)
        q = (self.cdf_a + u * self.mass).clamp(1e-6, 1 - 1e-6)
        x = self.loc + self.std * torch.special.ndtri(q)
        clipped = x.clamp(self.low + self.clip, self.high - self.clip)
        return x + (clipped - x).detach()

    sample = rsample

    def mode(self) -> torch.Tensor:
        return self.loc  # tanh mean: always inside the bounds

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_log_prob(x) - torch.log(self.mass).sum(-1)

    def entropy(self) -> torch.Tensor:
        def pdf(z: torch.Tensor) -> torch.Tensor:
            return torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)

        a, b, z = self.alpha, self.beta, self.mass
        ent = torch.log(math.sqrt(2 * math.pi * math.e) * self.std * z)
        ent = ent + (a * pdf(a) - b * pdf(b)) / (2 * z)
        return ent.sum(-1)


# ---- policy log-probabilities and entropies (the model-free heads: SAC, TD3, PPO)
LOG_2 = math.log(2.0)


def tanh_gaussian_sample(
    mean: torch.Tensor, log_std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reparameterized sample a = tanh(u), u ~ N(mean, std), and log pi(a) summed over A -> [B].

    The tanh correction uses log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), which is exact and
    stable for large |u| (the same formula as torch.distributions.TanhTransform, tested against it).
    """
    noise = torch.randn_like(mean)
    u = mean + noise * log_std.exp()  # [B, A]
    log_prob = -0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    log_prob = log_prob - 2.0 * (LOG_2 - u - F.softplus(-2.0 * u))
    return torch.tanh(u), log_prob.sum(-1)


def gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(log_std)) summed over the last dim: [B, A] -> [B]."""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def clipped_gaussian_log_prob(
    mean: torch.Tensor, log_std: torch.Tensor, x: torch.Tensor, bound: float = 1.0
) -> torch.Tensor:
    """log pi(x) of a Gaussian sample clipped to [-bound, bound], summed over the last dim:
    [B, A] -> [B] (Fujita & Maeda 2018, clipped action policy gradient).

    A clipped action at the bound stands for every sample beyond it, so its log-probability is the
    tail mass log P(u >= bound) (log P(u <= -bound) below), not the density at the bound. The
    density there biases the gradient: a clipped sample with a positive advantage pulls the mean
    onto the bound and shrinks the std as if it had been drawn exactly there, which pinned PPO
    policies at the edge of the action box (measured: PPO in imagination on `reach`).
    """
    std = log_std.exp()
    z = (x - mean) / std
    density = -0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)  # [B, A]
    upper = torch.special.log_ndtr((mean - bound) / std)  # log P(u >= bound)
    lower = torch.special.log_ndtr((-bound - mean) / std)  # log P(u <= -bound)
    log_prob = torch.where(x >= bound, upper, torch.where(x <= -bound, lower, density))
    return log_prob.sum(-1)


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy of a diagonal Gaussian summed over the last dim: [B, A] -> [B]."""
    return (log_std + 0.5 * (1.0 + math.log(2 * math.pi))).sum(-1)


def categorical_log_prob(logits: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
    """log pi(a) for one-hot actions: [B, A] x [B, A] -> [B]."""
    return (torch.log_softmax(logits, -1) * one_hot).sum(-1)


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of a categorical from logits: [B, A] -> [B]."""
    logp = torch.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1)
