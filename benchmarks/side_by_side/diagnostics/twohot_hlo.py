"""Run with the official venv: the compiled XLA HLO of the official TwoHot.pred on CPU (where the
FMA of the mirrored bin pairs shows)."""

import jax
import jax.numpy as jnp
from embodied.jax import nets, outs

half = nets.symexp(jnp.linspace(-20, 0, 128, dtype=jnp.float32))
bins = jnp.concatenate([half, -half[:-1][::-1]], 0)


def pred(logits):
    return outs.TwoHot(logits, bins).pred()


print(jax.jit(pred).lower(jnp.zeros((4, 255))).compile().as_text())
