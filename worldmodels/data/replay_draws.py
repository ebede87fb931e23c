"""How the replay draws B candidates (window starts or transition starts) over its streams, on
the storage device with static shapes: one uniform number per draw picks the candidate among all
streams (`searchsorted` over cumulative counts; host arithmetic when one stream holds them all),
a second one its age under recency sampling. `build_draws` turns the host pointers into the
cached structure, `pick` draws from it. Used by data/replay.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

import torch


@dataclass(frozen=True)
class Draws:
    """What `pick` needs to draw among the candidates of every stream, from the host pointers.

    Candidates of stream e sit at ring positions oldest_e .. oldest_e + count_e - 1 (mod L),
    oldest first. Built once per (kind, size) and reused until the pointers change.
    """

    total: int  # candidates over all streams
    env: int  # the only stream holding candidates, or -1 when several do
    oldest: int  # (env >= 0) ring position of its oldest candidate
    count: int  # (env >= 0) its candidates
    wrap: bool  # whether some candidate (or a row read after it) may pass the ring's end
    cum: torch.Tensor | None  # (env < 0) [N] cumulative candidate counts
    shift: torch.Tensor | None  # (env < 0) [N] ring position minus the global candidate index
    counts: torch.Tensor | None  # (env < 0) [N] candidates per stream
    newest: torch.Tensor | None  # (env < 0) [N] ring position of the newest candidate


def build_draws(
    counts: list[int], oldest: list[int], extent: int, length: int, device: torch.device
) -> Draws:
    """The draw structure for candidates `counts` [N] per stream starting at ring positions
    `oldest` [N], each reading `extent` rows past itself, in rings of `length` on `device`."""
    held = [e for e, c in enumerate(counts) if c]
    total = sum(counts)
    wrap = any(oldest[e] + counts[e] + extent > length for e in held)
    if len(held) == 1:
        e = held[0]
        return Draws(total, e, oldest[e], counts[e], wrap, None, None, None, None)
    cum = list(accumulate(counts))
    shift = [o - (s - c) for o, s, c in zip(oldest, cum, counts)]  # position - global index
    newest = [o + c - 1 for o, c in zip(oldest, counts)]
    table = torch.tensor([cum, shift, counts, newest], dtype=torch.int64)  # [4, N]
    cum_t, shift_t, counts_t, newest_t = table.to(device, non_blocking=True)
    env = -1 if held else 0
    return Draws(total, env, 0, 0, wrap, cum_t, shift_t, counts_t, newest_t)


def pick(
    draws: Draws,
    batch: int,
    length: int,
    gen: torch.Generator,
    age_cdf: torch.Tensor | None,
    age_total: float,
) -> tuple[torch.Tensor | int, torch.Tensor]:
    """Draws `batch` candidates (see Draws). Returns (the streams' first flat row, env * L:
    [B] on the storage device, or an int when one stream holds every candidate; ring position
    [B]); uniform over all candidates, or by recency of the candidate within its stream."""
    u = torch.rand(batch, 2, generator=gen, device=gen.device, dtype=torch.float64)
    total = draws.total
    age = None
    if age_cdf is not None:  # an age, 0 = newest, rescaled to the stream's candidates
        age = torch.searchsorted(age_cdf, u[:, 1].mul(age_total), right=True)
        age = age.clamp_max_(length - 1)
    if draws.env >= 0:  # one stream: no stream draw, host arithmetic for the offsets
        base = draws.env * length
        if age is not None:
            newest = draws.oldest + draws.count - 1
            pos = age.mul_(draws.count).floor_divide_(length).neg_().add_(newest)
        else:  # the clamp guards u * total rounding up to total
            pos = u[:, 0].mul(total).long().clamp_max_(total - 1)
            pos = pos.add_(draws.oldest) if draws.oldest else pos
        return base, (pos.remainder_(length) if draws.wrap else pos)
    # [B] index among all candidates; the clamp guards u * total rounding up to total.
    r = u[:, 0].mul(total).long().clamp_max_(total - 1)
    assert draws.cum is not None and draws.shift is not None
    assert draws.counts is not None and draws.newest is not None
    env = torch.searchsorted(draws.cum, r, right=True)  # [B]
    if age is None:
        pos = r.add_(draws.shift.index_select(0, env))
    else:
        n_env = draws.counts.index_select(0, env)  # [B]
        pos = draws.newest.index_select(0, env) - age.mul_(n_env).floor_divide_(length)
    return env.mul_(length), (pos.remainder_(length) if draws.wrap else pos)
