"""The matrix-product floor of one Dreamer update at the side-by-side config (issue 11's 3x target).

    OMP_NUM_THREADS=1 taskset -c 0 python gemm_floor.py --root . --reps 20

Builds the agent as `update_speed.py` does (`preset=dreamer_v3 size=size1m env=dmc_proprio`,
batch 16 x 65, imagination 1024 x 15), runs one eager update under a dispatch mode that records
every mm / addmm / bmm with its operands' sizes and strides (forward and backward), then times
each distinct product alone on this thread (median of --reps calls, operands of the same layout).
It prints the matmul FLOPs of an update, the sum of the products' times (the floor: an update
cannot be faster than its matrix products at the rate the library reaches at these shapes, even
if everything else were free), the update's own median time (eager and compiled), and the
largest speed-up over the current update that the floor allows. Multiplied by a ratio to the
official measured in one command (`scripts/side_by_side.py`), that bounds the ratio any change
that keeps the algorithm's products can reach.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from typing import Any


def _time(fn: Any, reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--root", default=".", help="the checkout to measure")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--top", type=int, default=12, help="products to list by time")
    args = p.parse_args()
    sys.path.insert(0, args.root)
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from update_speed import build_agent, make_batch  # type: ignore[import-not-found]

    torch.set_num_threads(1)
    mm_ops = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default}

    class Record(TorchDispatchMode):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.calls: Counter[tuple[Any, ...]] = Counter()

        def __torch_dispatch__(self, func, types, a=(), kw=None):  # type: ignore[no-untyped-def]
            if func in mm_ops:
                key = (func,) + tuple(
                    (tuple(t.shape), tuple(t.stride())) for t in a if isinstance(t, torch.Tensor)
                )
                self.calls[key] += 1
            return func(*a, **(kw or {}))

    def flops(key: tuple[Any, ...]) -> int:
        func, *ops = key
        (xs, _), (ws, _) = ops[-2], ops[-1]  # addmm: (bias, x, w); mm / bmm: (x, w)
        batch = xs[0] if func is torch.ops.aten.bmm.default else 1
        return 2 * batch * xs[-2] * xs[-1] * ws[-1]

    def operands(key: tuple[Any, ...]) -> list[torch.Tensor]:
        # the same layout (transposed views, broadcast biases of stride 0) over random storage
        span = [1 + sum((n - 1) * d for n, d in zip(s, st, strict=True)) for s, st in key[1:]]
        return [torch.randn(m).as_strided(s, st) for m, (s, st) in zip(span, key[1:], strict=True)]

    results = {}
    for mode in ("eager", "compiled"):
        agent = build_agent(mode == "compiled")
        batch = make_batch(agent)
        for _ in range(3):
            agent.update(batch)
        if mode == "eager":
            rec = Record()
            with rec:
                agent.update(batch)
        results[mode] = _time(lambda a=agent, b=batch: a.update(b), max(3, args.reps // 4))

    rows = []
    for key, n in rec.calls.items():
        xs = operands(key)
        func = key[0]
        t = _time(lambda f=func, x=xs: f(*x), args.reps)
        rows.append((func, key[1:], n, flops(key), t))
    total_flops = sum(n * f for *_, n, f, _t in rows)
    floor = sum(n * t for *_, n, _f, t in rows)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {len(rows)} distinct "
          f"products, {sum(r[2] for r in rows)} calls per update")  # fmt: skip
    print(f"matmul FLOPs per update: {total_flops / 1e9:.2f} G")
    print(
        f"floor (sum of the products alone): {floor:.3f} s = {total_flops / floor / 1e9:.1f} GF/s"
    )
    for mode, sec in results.items():
        print(f"update median, {mode}: {sec:.3f} s ({total_flops / sec / 1e9:.1f} GF/s); "
              f"at most {sec / floor:.2f}x faster at the floor")  # fmt: skip
    print("products by time per update (op, operand sizes, calls, GF/s alone, s per update):")
    for func, ops, n, f, t in sorted(rows, key=lambda r: -r[2] * r[4])[: args.top]:
        sizes = " x ".join(str(list(s)) for s, _ in ops)
        print(f"  {func.__name__:6s} {sizes:40s} {n:4d} {f / t / 1e9:6.1f} {n * t:.3f}")


if __name__ == "__main__":
    main()
