"""Replay benchmark: sample time of [B, T] sequences and n-step transitions at a large capacity of
64x64x3 frames, add throughput, and the bytes one stored transition costs (target: within 5% of
the 12,288-byte frame, since frames are stored once). Then the per-call cost of
`sample_transitions` on small proprio rows (the model-free heads' case, where the gathers are tiny
and per-call overhead is the whole cost): repeated samples, and one `add` + one sample as a
training loop interleaves them (the sampler's cached draw structure is rebuilt after each add).

    python scripts/bench.py replay [--device cpu|cuda|auto] [--capacity 1000000] [--num-envs 4] ...
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from worldmodels.data.replay import Replay
from worldmodels.envs.spaces import ActSpec, ArraySpec, row_spec

FRAME_BYTES = 64 * 64 * 3


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--capacity", type=int, default=1_000_000, help="rows in total (default 1M)"
    )
    parser.add_argument("--num-envs", type=int, default=4, help="env streams (trainer default: 4)")
    parser.add_argument("--sampling", default="uniform", choices=("uniform", "recency"))
    parser.add_argument("--batch", type=int, default=16, help="sequence batch B")
    parser.add_argument("--length", type=int, default=64, help="sequence length T")
    parser.add_argument("--transitions-batch", type=int, default=256)
    parser.add_argument("--n-step", type=int, default=3)
    parser.add_argument("--action-dim", type=int, default=6, help="6: walker")
    parser.add_argument("--episode", type=int, default=500, help="episode length in rows")
    parser.add_argument("--iters", type=int, default=200, help="timed samples per figure")
    parser.add_argument(
        "--proprio-rows", type=int, default=5000, help="rows of the proprio replay (0: skip it)"
    )
    parser.add_argument(
        "--proprio-iters", type=int, default=2000, help="timed calls per proprio figure"
    )


def run(args: argparse.Namespace) -> None:
    device = _device(args.device)
    _frames(args, device)  # returns the large store's memory before the proprio figures
    if args.proprio_rows > 0:
        _proprio(args, device)


def _frames(args: argparse.Namespace, device: torch.device) -> None:
    """The 64x64x3 figures at args.capacity rows."""
    spec = row_spec(
        {"image": ArraySpec((64, 64, 3), "uint8")}, ActSpec(args.action_dim, discrete=False)
    )
    replay = Replay(
        spec, args.capacity, args.num_envs, device=device, sampling=args.sampling, seed=0
    )
    print(
        f"== replay benchmark on {_device_name(device)} (torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads)"
    )
    print(
        f"config: capacity {args.capacity:,}, {args.num_envs} env streams, "
        f"{args.sampling} sampling, "
        f"64x64x3 uint8 frames, action dim {args.action_dim}, episodes of {args.episode} rows"
    )
    print(replay.describe())

    add_s = _fill(replay, args.num_envs, args.episode)
    print(
        f"fill: {len(replay):,} rows in {add_s:.1f} s "
        f"({len(replay) / add_s:,.0f} rows/s through add)"
    )

    seq_ms = _time(lambda: replay.sample_sequences(args.batch, args.length), args.iters, device)
    frames = args.batch * args.length
    print(
        f"sample_sequences B={args.batch} T={args.length}: {_fmt(seq_ms)} "
        f"({frames * FRAME_BYTES / (statistics.median(seq_ms) / 1e3) / 2**30:.2f} GiB/s of frames)"
    )
    tr_ms = _time(
        lambda: replay.sample_transitions(args.transitions_batch, args.n_step, 0.99),
        args.iters,
        device,
    )
    print(f"sample_transitions B={args.transitions_batch} n_step={args.n_step}: {_fmt(tr_ms)}")
    over = (replay.bytes_per_row / FRAME_BYTES - 1) * 100
    print(
        f"bytes per 64x64x3 transition: {replay.bytes_per_row:,.1f} "
        f"({over:+.2f}% vs the {FRAME_BYTES:,}-byte frame; target within 5%)"
    )


def _proprio(args: argparse.Namespace, device: torch.device) -> None:
    """Per-call cost of sample_transitions on 3-float observations (Pendulum-sized rows)."""
    rows, n_envs = args.proprio_rows, args.num_envs
    spec = row_spec({"vector": ArraySpec((3,), "float32")}, ActSpec(1, discrete=False))
    print(
        f"proprio: {rows:,} rows of 3 floats, {args.sampling} sampling, episodes of 200 rows; "
        f"microseconds per call, {args.proprio_iters} calls"
    )
    rng = np.random.default_rng(0)
    for envs in sorted({1, n_envs}):
        replay = Replay(spec, rows + 10, envs, device=device, sampling=args.sampling, seed=0)
        for t in range(rows // envs):
            last = t % 200 == 199
            replay.add(_proprio_row(rng, envs, t % 200 == 0, last, last and t % 400 == 399))
        row = _proprio_row(rng, envs, False, False, False)
        iters = args.proprio_iters
        for batch, n_step in ((64, 1), (256, 1), (256, 3)):
            us = _time_calls(_sampler(replay, None, batch, n_step), iters, device)
            print(f"  {envs} env(s) sample_transitions B={batch} n_step={n_step}: {us}")
        print(f"  {envs} env(s) add: {_time_calls(partial(replay.add, row), iters, device)}")
        for batch, n_step in ((64, 1), (256, 3)):
            us = _time_calls(_sampler(replay, row, batch, n_step), iters, device)
            print(f"  {envs} env(s) add + sample_transitions B={batch} n_step={n_step}: {us}")


def _sampler(
    replay: Replay, row: dict[str, np.ndarray] | None, batch: int, n_step: int
) -> Callable[[], object]:
    """One sample_transitions call, after one add of `row` when given."""

    def call() -> object:
        if row is not None:
            replay.add(row)
        return replay.sample_transitions(batch, n_step, 0.99)

    return call


def _proprio_row(
    rng: np.random.Generator, envs: int, first: bool, last: bool, terminal: bool
) -> dict[str, np.ndarray]:
    return {
        "vector": rng.standard_normal((envs, 3)).astype(np.float32),
        "action": rng.uniform(-1, 1, (envs, 1)).astype(np.float32),
        "reward": rng.standard_normal(envs).astype(np.float32),
        "is_first": np.full(envs, first),
        "is_last": np.full(envs, last),
        "is_terminal": np.full(envs, terminal),
    }


def _time_calls(fn: Callable[[], object], iters: int, device: torch.device) -> str:
    """Mean microseconds per call over 5 blocks of iters/5 calls: best block and median block
    (blocks, not single calls: a single call is near the timer's and the scheduler's noise)."""
    for _ in range(20):  # warm-up
        fn()
    block = max(iters // 5, 1)
    means = []
    for _ in range(5):
        _sync(device)
        start = time.perf_counter()
        for _ in range(block):
            fn()
        _sync(device)
        means.append((time.perf_counter() - start) / block * 1e6)
    return f"best {min(means):.0f} us, median {statistics.median(means):.0f} us"


def _fill(replay: Replay, num_envs: int, episode: int) -> float:
    """Adds capacity rows: a pool of random frames, episodes of `episode` rows, every other one
    terminating (the rest truncated). Returns the seconds spent in `add`."""
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 256, (16, num_envs, 64, 64, 3), dtype=np.uint8)
    action = rng.uniform(-1, 1, (num_envs, replay.spec["action"].shape[0])).astype(np.float32)
    rounds = replay.capacity // num_envs
    start = time.perf_counter()
    for t in range(rounds):
        pos = t % episode
        last = pos == episode - 1
        replay.add(
            {
                "image": pool[t % len(pool)],
                "action": action,
                "reward": np.full(num_envs, 0.0 if pos == 0 else 1.0, np.float32),
                "is_first": np.full(num_envs, pos == 0),
                "is_last": np.full(num_envs, last),
                "is_terminal": np.full(num_envs, last and (t // episode) % 2 == 0),
            }
        )
    return time.perf_counter() - start


def _time(fn: Callable[[], object], iters: int, device: torch.device) -> list[float]:
    for _ in range(5):  # warm-up
        fn()
    times = []
    for _ in range(iters):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _fmt(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=10)
    median = statistics.median(ms)
    return f"median {median:.3f} ms, p10 {q[0]:.3f}, p90 {q[-1]:.3f} ({len(ms)} samples)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"--device must be cpu, cuda or auto, got {name!r}")
    return torch.device(name)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return f"cpu ({model})"
