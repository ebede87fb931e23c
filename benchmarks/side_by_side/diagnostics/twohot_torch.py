"""Our TwoHot mean on the same symexp bins at uniform and symmetrically perturbed logits (the
counterpart of twohot_jax.py: ours is exactly 0 at uniform logits)."""

import numpy as np
import torch

from worldmodels.models.dists import TwoHot, twohot_bins

bins = twohot_bins(255, space="symexp")
print("uniform", TwoHot(torch.zeros(4, 255), bins, "symexp").mean)
rng = np.random.default_rng(0)
for eps in [1e-7, 1e-5, 1e-3]:
    d = rng.normal(size=(1000, 128)).astype(np.float32) * eps
    sym = torch.as_tensor(np.concatenate([d, d[:, :-1][:, ::-1]], 1).copy())
    m = TwoHot(sym, bins, "symexp").mean
    naive = (torch.softmax(sym, -1) * bins).sum(-1)
    print(
        f"sym {eps:g}: ours mean {m.mean():.3g} std {m.std():.3g}"
        f" | naive sum mean {naive.mean():.3g} std {naive.std():.3g}"
    )
