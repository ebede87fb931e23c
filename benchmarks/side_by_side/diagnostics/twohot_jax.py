"""Run with the official venv: the official TwoHot.pred (embodied/jax/outs.py) on the official
symexp_twohot bins (heads.py 132-144), eager vs jit, at uniform logits and slightly perturbed
ones, float32 on CPU."""

import jax
import jax.numpy as jnp
import numpy as np
from embodied.jax import nets, outs

bins_n = 255
half = nets.symexp(jnp.linspace(-20, 0, (bins_n - 1) // 2 + 1, dtype=jnp.float32))
bins = jnp.concatenate([half, -half[:-1][::-1]], 0)


def pred(logits):
    return outs.TwoHot(logits, bins).pred()


z = jnp.zeros((4, bins_n), jnp.float32)
print("eager uniform", np.asarray(pred(z)))
print("jit   uniform", np.asarray(jax.jit(pred)(z)))
rng = np.random.default_rng(0)
for eps in [1e-7, 1e-6, 1e-5, 1e-4]:
    # a symmetric perturbation: the exact prediction is 0 (logit_i == logit_{n-1-i})
    d = rng.normal(size=(1000, 128)).astype(np.float32) * eps
    sym = np.concatenate([d, d[:, :-1][:, ::-1]], 1)
    e = np.asarray(pred(jnp.asarray(sym)))
    j = np.asarray(jax.jit(pred)(jnp.asarray(sym)))
    print(
        f"sym perturbation {eps:g}: eager mean {e.mean():.3g} std {e.std():.3g}"
        f" | jit mean {j.mean():.3g} std {j.std():.3g}"
    )
print(jax.jit(pred).lower(z).as_text()[-1500:])
