"""One replay store for every head: world-model sequences and n-step transitions from the same rows.

Layout: one ring per env stream, preallocated tensors [num_envs, capacity // num_envs, ...] per row
key (worldmodels.envs.spaces.row_spec: obs keys, action, reward, is_first, is_last, is_terminal).
Each uint8 frame is stored once: no next_obs copies, no frame stacks; next observations and
sequences are index arithmetic over the rows. A second int32 ring per stream lists the slots of
the rows a transition may start from (every row that is not an episode's last), so transitions
are drawn uniformly over valid starts without rejection loops.

Sampling runs on the storage device: a torch.Generator draws [B] numbers, `searchsorted` over
per-stream counts picks the stream, and gathers with fixed [B, T] index tensors read the rows
(static shapes, no host sync). Host-side numpy pointers (write position, fill count) stay
authoritative, because `add` runs on the env side anyway. What a draw needs from them (candidate
counts per stream, their cumulative sums, ring offsets) is built once per kind of draw and cached
until the next `add`/`mark_last`/`load`, so repeated samples upload nothing; with one stream
holding candidates (num_envs 1) the stream pick is host arithmetic and no tensor op at all.

- `sample_sequences(B, T)`: contiguous windows of one env stream, never across the ring's write
  point or into unwritten slots. Windows may span episode boundaries; `is_first` marks them
  (DreamerV3 style: the world model resets its state there).
- `sample_transitions(B, n_step, gamma)`: from a row t that is not an episode's last (its action
  was ignored by the env), reward = sum_{i<k} gamma^i r_{t+1+i}, k = min(n_step, steps to the
  first is_last after t), next_obs = obs_{t+k}, discount = gamma^k (1 - is_terminal_{t+k}).
  A start needs its n_step successors stored, so the newest n_step rows of a stream wait.
- Sampling "uniform": every valid window / start equally likely. "recency": DreamerV3's Recency
  selector: an age a (0 = newest) is drawn with probability proportional to (a + 1)^-exponent
  over the stream's full capacity and rescaled to the rows it holds; exponent 1 (DreamerV3's
  `recexp`) gives power-law, not exponential, decay.
- FIFO eviction at capacity; `save`/`load` atomic (temp dir + rename), with CRC-checked files.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldmodels.data.replay_draws import Draws, build_draws, pick
from worldmodels.data.replay_files import (
    FORMAT,
    META_FILE,
    STARTS_FILE,
    chunk_bytes,
    read_chunks,
    read_meta,
    swap_in,
    write_chunks,
    write_file,
)
from worldmodels.envs.spaces import STEP_KEYS, ArraySpec

SAMPLINGS: tuple[str, ...] = ("uniform", "recency")


class Replay:
    """Ring-buffer replay of env rows, per env stream, on the training device when it fits.

    Args:
        spec: row spec, `worldmodels.envs.spaces.row_spec(obs_spec, act_spec)`.
        capacity: rows in total; each of the `num_envs` streams holds `capacity // num_envs`.
        num_envs: number of env streams rows are added for.
        device: the training device; batches come back there. Storage goes there too when it fits
            in `device_memory_fraction` of the free GPU memory, else on the CPU (with a note).
        sampling: "uniform" or "recency" (see the module docstring).
        seed: seed of the sampling generator (its state is saved, so a resume samples exactly on).
        recency_exponent: the power of the recency weights (a + 1)^-exponent.
        extras: keys of `spec` that hold agent entries (e.g. replay-context latents) rather than
            env data: not observations, and rewritable with `write`.
    """

    def __init__(
        self,
        spec: Mapping[str, ArraySpec],
        capacity: int,
        num_envs: int,
        device: str | torch.device = "cpu",
        sampling: str = "uniform",
        seed: int = 0,
        recency_exponent: float = 1.0,
        device_memory_fraction: float = 0.8,
        extras: Sequence[str] = (),
    ):
        if sampling not in SAMPLINGS:
            raise ValueError(
                f"replay: unknown sampling {sampling!r}; valid options: {', '.join(SAMPLINGS)}"
            )
        missing = [k for k in ("action", *STEP_KEYS) if k not in spec]
        if missing:
            raise ValueError(
                f"replay: spec lacks {missing}; build it with worldmodels.envs.spaces.row_spec"
            )
        bad = [k for k in spec if not re.fullmatch(r"[A-Za-z0-9_]+", k)]
        if bad:
            raise ValueError(
                f"replay: spec keys must be [A-Za-z0-9_]+ (they name files), got {bad}"
            )
        if num_envs < 1 or capacity < num_envs:
            raise ValueError(
                f"replay: need num_envs >= 1 and capacity >= num_envs, got {capacity=}, {num_envs=}"
            )
        self.spec = dict(spec)
        unknown = sorted(set(extras) - set(self.spec))
        if unknown:
            raise ValueError(f"replay: extras {unknown} are not keys of the row spec")
        # extras: per-row entries an agent stores and rewrites (`write`), not observations
        self.extra_keys = tuple(extras)
        self.obs_keys = [
            k for k in self.spec if k != "action" and k not in STEP_KEYS and k not in extras
        ]
        self.num_envs = num_envs
        self.length = capacity // num_envs  # L: slots per env stream
        self.capacity = self.length * num_envs
        self.sampling = sampling
        self.recency_exponent = float(recency_exponent)
        self.device = torch.device(device)
        self.storage_device = _storage_device(
            self.device, self._estimate_nbytes(), device_memory_fraction
        )
        n, length, sdev = num_envs, self.length, self.storage_device
        self._data = {
            k: torch.zeros((n, length, *s.shape), dtype=torch_dtype(s.dtype), device=sdev)
            for k, s in self.spec.items()
        }
        # Flat [N * L, ...] views: one index_select per key reads a whole batch.
        self._flat = {k: v.view(n * length, *v.shape[2:]) for k, v in self._data.items()}
        # The starts ring: per stream, the slots of its rows that are not is_last, oldest first.
        self._starts = torch.zeros((n, length), dtype=torch.int32, device=sdev)
        self._age_cdf: torch.Tensor | None = None
        self._age_total = 0.0
        if sampling == "recency":
            ages = torch.arange(1, length + 1, dtype=torch.float64, device=sdev)
            self._age_cdf = torch.cumsum(ages**-self.recency_exponent, 0)  # [L]
            self._age_total = float(self._age_cdf[-1])  # one sync, at construction
        # Starts ring flattened to [N * L]: one index_select reads a batch of start slots.
        self._starts_flat = self._starts.view(n * length)
        self._draws: dict[tuple[str, int], Draws] = {}  # emptied whenever the pointers change
        self._consts: dict[tuple[Any, ...], torch.Tensor] = {}  # aranges, gamma powers
        # Host pointers (authoritative): next write slot and rows held, per stream; the same for
        # the starts ring.
        self._pos = np.zeros(n, np.int64)
        self._count = np.zeros(n, np.int64)
        self._tpos = np.zeros(n, np.int64)
        self._tcount = np.zeros(n, np.int64)
        self._last = np.zeros((n, length), bool)  # host mirror of is_last (eviction, n-step counts)
        self._gen = torch.Generator(device=sdev)
        self._gen.manual_seed(seed)
        self._on_device = sdev == self.device  # batches need no copy

    # ------------------------------------------------------------------ sizes
    def _estimate_nbytes(self) -> int:
        row = sum(s.nbytes for s in self.spec.values()) + 4  # + the int32 starts ring
        cdf = 8 * self.length if self.sampling == "recency" else 0
        return row * self.capacity + cdf

    @property
    def nbytes(self) -> int:
        """Bytes held on the storage device (rows, the starts ring, the recency table)."""
        total = sum(v.nbytes for v in self._data.values()) + self._starts.nbytes
        return total + (self._age_cdf.nbytes if self._age_cdf is not None else 0)

    @property
    def bytes_per_row(self) -> float:
        """Amortized bytes per stored row, device storage plus the 1-byte host is_last mirror."""
        return (self.nbytes + self._last.nbytes) / self.capacity

    def __len__(self) -> int:
        return int(self._count.sum())

    def describe(self) -> str:
        """One line with the memory estimate (total and per row) for the loop to print."""
        parts = ", ".join(f"{k} {s.nbytes:,}" for k, s in self.spec.items())
        return (
            f"replay: {self.capacity:,} rows ({self.num_envs} env streams x {self.length:,}), "
            f"{self.sampling} sampling, {self.nbytes / 2**30:.2f} GiB on {self.storage_device}, "
            f"{self.bytes_per_row:,.0f} B/row ({parts}; + 4 index + 1 host)"
        )

    # ------------------------------------------------------------------ adding
    def add(
        self, row: Mapping[str, Any], env_ids: Sequence[int] | np.ndarray | None = None
    ) -> None:
        """Appends one row per env: arrays/tensors [N, ...] for every spec key (extra keys are
        ignored); N = num_envs, or len(env_ids) for a subset of streams. When a stream is full its
        oldest row is evicted (FIFO). Flags are read on the host (a sync for GPU tensors)."""
        ids = (
            np.arange(self.num_envs)
            if env_ids is None
            else np.asarray(env_ids, np.int64).reshape(-1)
        )
        if ids.size and (
            ids.min() < 0 or ids.max() >= self.num_envs or np.unique(ids).size != ids.size
        ):
            raise ValueError(
                f"replay.add: env_ids must be distinct ints in [0, {self.num_envs}), "
                f"got {ids.tolist()}"
            )
        missing = [k for k in self.spec if k not in row]
        if missing:
            raise ValueError(
                f"replay.add: row lacks keys {missing}; a row holds {sorted(self.spec)}"
            )
        for k, s in self.spec.items():
            shape = tuple(row[k].shape)
            if shape != (ids.size, *s.shape):
                raise ValueError(
                    f"replay.add: {k!r} has shape {shape}, expected {(ids.size, *s.shape)}"
                )
        last = _host_bool(row["is_last"])
        terminal = _host_bool(row["is_terminal"])
        if (terminal & ~last).any():
            raise ValueError(
                "replay.add: a row is is_terminal but not is_last; a termination ends the episode"
            )
        self._draws.clear()
        length = self.length
        slots = self._pos[ids]
        # A full stream overwrites its oldest row; when that row was a transition start, it is
        # also the oldest entry of the starts ring, which drops it.
        evicted = (self._count[ids] == length) & ~self._last[ids, slots]
        self._tcount[ids[evicted]] -= 1
        env_t = torch.as_tensor(ids, device=self.storage_device)
        slot_t = torch.as_tensor(slots, device=self.storage_device)
        for k, store in self._data.items():
            store[env_t, slot_t] = torch.as_tensor(row[k]).to(self.storage_device, store.dtype)
        self._last[ids, slots] = last
        starts = ids[~last]
        if starts.size:
            tpos = self._tpos[starts]
            sdev = self.storage_device
            index = (torch.as_tensor(starts, device=sdev), torch.as_tensor(tpos, device=sdev))
            self._starts[index] = torch.as_tensor(slots[~last], dtype=torch.int32, device=sdev)
            self._tpos[starts] = (tpos + 1) % length
            self._tcount[starts] += 1
        self._pos[ids] = (slots + 1) % length
        self._count[ids] = np.minimum(self._count[ids] + 1, length)

    def mark_last(self) -> None:
        """Marks the newest row of every non-empty stream as is_last (a truncation): an episode
        interrupted by a checkpoint ends there, and the next row added starts a new one."""
        envs = np.flatnonzero(self._count > 0)
        slots = (self._pos[envs] - 1) % self.length
        open_ = ~self._last[envs, slots]
        envs, slots = envs[open_], slots[open_]
        if envs.size == 0:
            return
        self._draws.clear()
        self._last[envs, slots] = True
        env_t = torch.as_tensor(envs, device=self.storage_device)
        self._data["is_last"][env_t, torch.as_tensor(slots, device=self.storage_device)] = True
        # The row was the newest transition start of its stream; it no longer is one.
        self._tpos[envs] = (self._tpos[envs] - 1) % self.length
        self._tcount[envs] -= 1

    # ------------------------------------------------------------------ sampling
    def can_sample_sequences(self, length: int) -> bool:
        """Whether some stream holds at least `length` rows."""
        return 1 <= length <= self.length and bool((self._count >= length).any())

    def can_sample_transitions(self, n_step: int) -> bool:
        """Whether some stream holds a transition start with `n_step` rows stored after it."""
        return 1 <= n_step < self.length and self._candidates("transitions", n_step).total > 0

    def sample_sequences(
        self, batch: int, length: int, with_index: bool = False
    ) -> dict[str, torch.Tensor]:
        """[B, T] windows of consecutive rows of one env stream each, every key of the row spec:
        obs keys [B, T, ...], "action" [B, T, A], "reward" [B, T], flags [B, T] bool; with
        `with_index` also "index" [B, T] int64, the rows' storage slots for `write`."""
        _check_positive("sample_sequences", batch=batch, length=length)
        if length > self.length:
            raise ValueError(
                f"replay.sample_sequences: T={length} exceeds the {self.length} rows a stream holds"
            )
        draws = self._candidates("sequences", length)
        if draws.total == 0:
            raise ValueError(
                f"replay.sample_sequences: no stream holds T={length} rows yet "
                f"(most: {int(self._count.max())}); "
                "prefill longer or check can_sample_sequences first"
            )
        base, start = self._pick(draws, batch)  # [B] or int, [B]
        flat = self._row(start[:, None] + self._arange("steps", 0, length), base, draws.wrap)
        out = {k: self._gather(k, flat) for k in self.spec}
        if with_index:
            out["index"] = flat.to(self.device)
        return out

    def write(self, index: torch.Tensor, values: Mapping[str, torch.Tensor]) -> None:
        """Overwrites stored entries at the slots `index` [B, T] (from `sample_sequences`) with
        `values` {key: [B, T, ...]}: agents refresh per-row entries they recomputed (replay
        context latents). Only keys of the row spec that are not env data may be written."""
        env_keys = {"action", *STEP_KEYS, *self.obs_keys} - set(self.extra_keys)
        bad = sorted(set(values) - set(self.extra_keys)) + sorted(set(values) & env_keys)
        if bad:
            raise ValueError(
                f"replay.write: {bad} are not writable; writable: {sorted(self.extra_keys)}"
            )
        flat = index.reshape(-1).to(self.storage_device)
        for k, v in values.items():
            store = self._flat[k]
            store[flat] = v.reshape(-1, *store.shape[1:]).to(self.storage_device, store.dtype)

    def sample_transitions(self, batch: int, n_step: int, gamma: float) -> dict[str, Any]:
        """n-step transitions: {"obs": {key: [B, ...]}, "action": [B, A], "reward": [B] (discounted
        n-step sum), "discount": [B] (gamma^k, 0 on termination), "next_obs": {key: [B, ...]}}."""
        _check_positive("sample_transitions", batch=batch, n_step=n_step)
        if n_step >= self.length:
            raise ValueError(
                f"replay.sample_transitions: n_step={n_step} needs streams longer than "
                f"{self.length} rows"
            )
        draws = self._candidates("transitions", n_step)
        if draws.total == 0:
            raise ValueError(
                f"replay.sample_transitions: no transition start with {n_step} rows after it yet; "
                "prefill longer or check can_sample_transitions first"
            )
        base, pos = self._pick(draws, batch)  # [B] or int, [B]
        slot = self._starts_flat.index_select(0, _offset(pos, base)).long()  # [B] row t's slot
        if n_step == 1:  # k = 1 always (row t is no episode's last): direct reads of row t+1
            flat_next = self._row(slot + 1, base, draws.wrap)  # [B] row t+1
            reward = self._flat["reward"].index_select(0, flat_next)  # [B]
            terminal = self._flat["is_terminal"].index_select(0, flat_next)  # [B]
            discount = torch.where(terminal, 0.0, gamma).to(reward.dtype)  # [B]
        else:
            follow = slot[:, None] + self._arange("follow", 1, n_step + 1)  # [B, n] t+1 .. t+n
            flat_follow = self._row(follow, base, draws.wrap)  # [B, n]
            reward, gamma_k, steps = self._nstep(flat_follow.view(-1), batch, n_step, gamma)
            flat_next = self._row(slot + steps, base, draws.wrap)  # [B] row t+k
            # is_terminal_{t+k}: a termination bootstraps with 0.
            terminal = self._flat["is_terminal"].index_select(0, flat_next)  # [B]
            discount = gamma_k.masked_fill_(terminal, 0.0)  # [B]
        flat_now = _offset(slot, base)  # [B]
        return {
            "obs": {k: self._gather(k, flat_now) for k in self.obs_keys},
            "action": self._gather("action", flat_now),
            "reward": self._to_device(reward),
            "discount": self._to_device(discount),
            "next_obs": {k: self._gather(k, flat_next) for k in self.obs_keys},
        }

    def _nstep(
        self, flat: torch.Tensor, batch: int, n_step: int, gamma: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The reward sum and step count of `worldmodels.objectives.returns.nstep_targets`, on
        rows read batch-major with cached gamma powers: fewer ops on the hot path (a test checks
        both agree). flat: [B * n] rows t+1 .. t+n per start. Returns reward [B] (sum_{i<k}
        gamma^i r_{t+1+i}), gamma^k [B] (a fresh tensor) and k [B] (n, or fewer at an episode end).
        """
        rows = (batch, n_step)
        reward = self._flat["reward"].index_select(0, flat).view(rows)  # [B, n]
        last = self._flat["is_last"].index_select(0, flat).view(rows)  # [B, n]
        # alive_i: none of rows t+1 .. t+i was an episode's last (i exclusive), i.e. the inclusive
        # count of last rows so far is no more than the row's own flag.
        alive = last.cumsum(1).le(last)  # [B, n]
        gamma_k = self._gamma_powers(n_step, gamma, reward.dtype)  # [n + 1]
        total = (reward * alive) @ gamma_k[:n_step]  # [B]
        steps = alive.sum(1)  # [B] k in 1..n
        return total, gamma_k.index_select(0, steps), steps

    def _row(self, slot: torch.Tensor, base: torch.Tensor | int, wrap: bool) -> torch.Tensor:
        """Flat row indices of stream slots [B, ...] (slot may run one ring past its end when
        `wrap`); base is the stream's first flat row, [B] or an int."""
        return _offset(slot.remainder_(self.length) if wrap else slot, base)

    def _gamma_powers(self, n_step: int, gamma: float, dtype: torch.dtype) -> torch.Tensor:
        """[n + 1] gamma^k for k = 0 .. n on the storage device, cached per (n, gamma)."""
        key = ("gamma", n_step, float(gamma), dtype)
        if key not in self._consts:
            if len(self._consts) > 64:  # many gammas (a sweep in one process): start afresh
                self._consts.clear()
            k = torch.arange(n_step + 1, device=self.storage_device, dtype=dtype)
            self._consts[key] = gamma**k
        return self._consts[key]

    def _arange(self, name: str, start: int, stop: int) -> torch.Tensor:
        """arange(start, stop) int64 on the storage device, cached (the sample's fixed offsets)."""
        key = (name, start, stop)
        if key not in self._consts:
            self._consts[key] = torch.arange(start, stop, device=self.storage_device)
        return self._consts[key]

    def _candidates(self, kind: str, size: int) -> Draws:
        """The cached draw structure for T=size windows or n_step=size transition starts.

        Rebuilt after every add in a training loop, so it works on Python ints (the [N] host
        pointers are tiny; numpy's per-call overhead would dominate) and uploads one [4, N] table.
        """
        key = (kind, size)
        draws = self._draws.get(key)
        if draws is None:
            length = self.length
            pos, count = self._pos.tolist(), self._count.tolist()
            first_row = [(p - c) % length for p, c in zip(pos, count)]  # [N] oldest row's slot
            if kind == "sequences":
                counts = [max(c - size + 1, 0) for c in count]  # [N] window starts per stream
                oldest = first_row
                extent = size - 1  # a window reads T - 1 rows past its start
            else:
                counts = self._transition_starts(size)  # [N]
                tpos, tcount = self._tpos.tolist(), self._tcount.tolist()
                oldest = [(p - c) % length for p, c in zip(tpos, tcount)]  # in the starts ring
                # The rows after a start must not wrap either: the modulo covers both rings.
                rows_wrap = any(f + c > length for f, c in zip(first_row, count))
                extent = length if rows_wrap else 0
            draws = self._build_draws(counts, oldest, extent)
            self._draws[key] = draws
        return draws

    def _build_draws(self, counts: list[int], oldest: list[int], extent: int) -> Draws:
        return build_draws(counts, oldest, extent, self.length, self.storage_device)

    def _pick(self, draws: Draws, batch: int) -> tuple[torch.Tensor | int, torch.Tensor]:
        return pick(draws, batch, self.length, self._gen, self._age_cdf, self._age_total)

    def _transition_starts(self, n_step: int) -> list[int]:
        """[N] valid transition starts per stream: the entries of the starts ring minus those among
        the newest n_step rows (their n-step window is not stored yet)."""
        length, out = self.length, []
        for e, (p, c, tc) in enumerate(
            zip(self._pos.tolist(), self._count.tolist(), self._tcount.tolist())
        ):
            held = min(n_step, c)  # the newest rows, newest first: slots p - 1, p - 2, ..
            if held <= 16:
                last = self._last[e]
                pending = sum(1 for i in range(held) if not last[(p - 1 - i) % length])
            else:
                slots = (p - 1 - np.arange(held)) % length
                pending = int(held - np.count_nonzero(self._last[e, slots]))
            out.append(max(tc - pending, 0))
        return out

    def _gather(self, key: str, flat: torch.Tensor) -> torch.Tensor:
        """Rows at flat indices [...] -> [..., *spec shape] on the training device."""
        if flat.dim() == 1:  # transitions: no reshapes
            return self._to_device(self._flat[key].index_select(0, flat))
        rows = self._flat[key].index_select(0, flat.reshape(-1))
        return self._to_device(rows.view(*flat.shape, *rows.shape[1:]))

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        """x on the training device (a no-op when the storage lives there)."""
        return x if self._on_device else x.to(self.device, non_blocking=True)

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the replay to directory `path` atomically: a temp dir beside it, then renames.
        On any failure the previous contents of `path` stay as they were."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            filled = int(
                self._count.max()
            )  # every stream's rows and starts lie in slots [0, filled)
            files = {
                f"{k}.bin": write_chunks(tmp / f"{k}.bin", self._data[k], filled) for k in self.spec
            }
            files[STARTS_FILE] = write_chunks(tmp / STARTS_FILE, self._starts, filled)
            meta = {**self._meta(), "filled": filled, "files": files}
            write_file(tmp / META_FILE, json.dumps(meta).encode())
            swap_in(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restores a replay written by `save` (same spec and capacity). A missing, corrupt or
        mismatched checkpoint raises ValueError and leaves this replay unchanged."""
        path = Path(path)
        meta = read_meta(path)
        mine = self._meta()
        for key in ("spec", "num_envs", "length"):
            if meta.get(key) != mine[key]:
                raise ValueError(
                    f"replay checkpoint {path}: {key} is {meta.get(key)}, "
                    f"this replay has {mine[key]}"
                )
        try:
            filled = int(meta["filled"])
            files = {
                name: meta["files"][name]
                for name in [*(f"{k}.bin" for k in self.spec), STARTS_FILE]
            }
            pointers = {
                k: np.asarray(meta[k], np.int64) for k in ("pos", "count", "tpos", "tcount")
            }
            for k, v in pointers.items():
                top = self.length - 1 if k in ("pos", "tpos") else self.length
                if v.shape != (self.num_envs,) or v.min() < 0 or v.max() > top:
                    raise ValueError(f"{k}={v.tolist()} out of range")
            if (pointers["tcount"] > pointers["count"]).any():
                raise ValueError("more transition starts than rows")
            if not 0 <= filled <= self.length or filled < pointers["count"].max():
                raise ValueError(f"filled={filled} out of range")
            saved = torch.frombuffer(
                bytearray(base64.b64decode(meta["generator"])), dtype=torch.uint8
            )
            gen_state: torch.Tensor | None = saved
            if meta["generator_device"] == self.storage_device.type:
                torch.Generator(device=self.storage_device).set_state(saved)  # checks its size
            else:  # CPU and CUDA generators differ: the data resumes exactly, the draws cannot
                print(
                    f"replay: {path} was sampled on {meta['generator_device']}, this replay lives "
                    f"on {self.storage_device.type}; sampling continues from this replay's seed",
                    flush=True,
                )
                gen_state = None
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ValueError(
                f"replay checkpoint {path}/{META_FILE} is corrupt ({type(err).__name__}: {err})"
            ) from err
        targets = {f"{k}.bin": v for k, v in self._data.items()}
        targets[STARTS_FILE] = self._starts
        for name, info in files.items():
            expected = chunk_bytes(targets[name], filled)
            size = (path / name).stat().st_size if (path / name).exists() else None
            if size != expected or info.get("bytes") != expected:
                raise ValueError(
                    f"replay checkpoint {path}/{name} is missing or truncated "
                    f"({size} bytes, expected {expected})"
                )
        if len(self) > 0:  # keep what we hold intact: check every checksum before overwriting
            for name, info in files.items():
                read_chunks(path / name, targets[name], filled, info["crc32"], write=False)
        try:
            for name, info in files.items():
                read_chunks(path / name, targets[name], filled, info["crc32"], write=True)
        except ValueError:
            self._clear()  # an empty replay stays empty
            raise
        self._draws.clear()
        self._pos, self._count = pointers["pos"], pointers["count"]
        self._tpos, self._tcount = pointers["tpos"], pointers["tcount"]
        self._last = self._data["is_last"].cpu().numpy().copy()
        if gen_state is not None:
            self._gen.set_state(gen_state)

    def _meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "spec": {k: [list(s.shape), s.dtype] for k, s in self.spec.items()},
            "num_envs": self.num_envs,
            "length": self.length,
            "sampling": self.sampling,
            "pos": self._pos.tolist(),
            "count": self._count.tolist(),
            "tpos": self._tpos.tolist(),
            "tcount": self._tcount.tolist(),
            "generator": base64.b64encode(self._gen.get_state().numpy().tobytes()).decode(),
            "generator_device": self.storage_device.type,
        }

    def _clear(self) -> None:
        self._draws.clear()
        for a in (self._pos, self._count, self._tpos, self._tcount):
            a[:] = 0
        self._last[:] = False
        self._data["is_last"].zero_()


# ---------------------------------------------------------------------- helpers
def _storage_device(device: torch.device, nbytes: int, fraction: float) -> torch.device:
    """The training device when the store fits in `fraction` of its free memory, else the CPU."""
    if device.type != "cuda":
        return device
    free, _ = torch.cuda.mem_get_info(device)
    if nbytes <= fraction * free:
        return device
    print(
        f"replay: {nbytes / 2**30:.1f} GiB does not fit in {fraction:.0%} of the "
        f"{free / 2**30:.1f} GiB free on "
        f"{device}; storing it on the CPU (batches are still moved to {device})",
        flush=True,
    )
    return torch.device("cpu")


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a numpy dtype name (ArraySpec.dtype)."""
    dtype = getattr(torch, np.dtype(name).name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unsupported dtype {name!r} in a row spec")
    return dtype


def _offset(index: torch.Tensor, base: torch.Tensor | int) -> torch.Tensor:
    """index + base in place, base [B] (broadcast over index's trailing dims) or an int."""
    if isinstance(base, int):
        return index.add_(base) if base else index
    return index.add_(base.view(-1, *([1] * (index.dim() - 1))))


def _host_bool(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x).astype(bool).reshape(-1)


def _check_positive(name: str, **values: int) -> None:
    if all(type(v) is int and v >= 1 for v in values.values()):
        return  # the common case, without the isinstance chain below
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"replay.{name}: {k} must be a positive int, got {v!r}")
