"""At uniform two-hot logits, the float32 sum over mirrored bin pairs when one product of each
pair is rounded before an FMA adds the other (either order): the residue the official jit shows."""

import numpy as np

from worldmodels.models.dists import twohot_bins

b = twohot_bins(255, space="symexp").numpy()
p = np.full(255, np.float32(1) / np.float32(255), np.float32)
m = 127
lo = (p[:m] * b[:m])[::-1]
hi = p[m + 1 :] * b[m + 1 :]
lo_exact = (p[:m].astype(np.float64) * b[:m].astype(np.float64))[::-1]
hi_exact = p[m + 1 :].astype(np.float64) * b[m + 1 :].astype(np.float64)
A = (hi_exact + lo.astype(np.float64)).astype(np.float32)  # fma(p_hi, b_hi, fl(p_lo b_lo))
B = (lo_exact + hi.astype(np.float64)).astype(np.float32)  # fma(p_lo, b_lo, fl(p_hi b_hi))
print(
    "rounded lo:",
    A.astype(np.float32).sum(dtype=np.float32),
    "rounded hi:",
    B.sum(dtype=np.float32),
)
