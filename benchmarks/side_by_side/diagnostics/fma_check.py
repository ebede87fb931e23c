"""Run with the official venv: whether the jit-compiled official TwoHot pairs
(embodied/jax/outs.py) equal an FMA of the pair's two products (either order) or a plain
float32 sum, and its pred's error."""

import jax
import jax.numpy as jnp
import numpy as np
from embodied.jax import nets, outs

half = nets.symexp(jnp.linspace(-20, 0, 128, dtype=jnp.float32))
bins = jnp.concatenate([half, -half[:-1][::-1]], 0)
b = np.asarray(bins)
m = 127


def f(x):
    o = outs.TwoHot(x, bins)
    return (
        o.probs,
        (o.probs[..., :m] * o.bins[:m])[..., ::-1] + o.probs[..., m + 1 :] * o.bins[m + 1 :],
        o.pred(),
    )


x = np.random.default_rng(1).normal(size=(64, 255)).astype(np.float32) * 1e-3
p, pair, pred = [np.asarray(v) for v in jax.jit(f)(jnp.asarray(x))]
lo64 = (p[:, :m].astype(np.float64) * b[:m])[:, ::-1]
hi32 = (p[:, m + 1 :] * b[m + 1 :]).astype(np.float64)
lo32 = (p[:, :m] * b[:m])[:, ::-1].astype(np.float64)
hi64 = p[:, m + 1 :].astype(np.float64) * b[m + 1 :]
fma_a = (lo64 + hi32).astype(np.float32)
fma_b = (lo32 + hi64).astype(np.float32)
plain = (lo32 + hi32).astype(np.float32)
print(
    "pairs equal to fma(p_lo,b_lo,fl(p_hi b_hi)):",
    (fma_a == pair).mean(),
    " fma(p_hi,b_hi,fl(p_lo b_lo)):",
    (fma_b == pair).mean(),
    " plain:",
    (plain == pair).mean(),
)
exact = (
    (p[:, :m].astype(np.float64) * b[:m])[:, ::-1].sum(1)
    + (p[:, m + 1 :].astype(np.float64) * b[m + 1 :]).sum(1)
    + p[:, m] * b[m]
)
print(
    f"jit pred minus exact (float64) pred: mean {(pred - exact).mean():.3g}"
    f" std {(pred - exact).std():.3g}"
)
