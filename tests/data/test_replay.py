"""The shared replay: sequences stay inside one env stream and behind the write point, n-step
transitions match a hand computation, FIFO eviction, recency, atomic save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from worldmodels.data import replay as replay_module
from worldmodels.data.replay import Replay
from worldmodels.envs.spaces import ActSpec, ArraySpec, row_spec

GAMMA = 0.5


def _spec(image: bool = True) -> dict[str, ArraySpec]:
    obs = {"vector": ArraySpec((2,), "float32")}  # [env id, time counter of the stream]
    if image:
        obs["image"] = ArraySpec((4, 4, 3), "uint8")
    return row_spec(obs, ActSpec(1, discrete=False))


class Streams:
    """Feeds rows to a replay and keeps every row per env in Python lists, for reference answers.

    Episodes of `ep_len` rows: row 0 is_first (reward 0), the last is_last; every other
    episode ends in a termination, the others in a truncation."""

    def __init__(self, replay: Replay, ep_len: int | list[int] = 5, seed: int = 0):
        self.replay = replay
        n = replay.num_envs
        self.ep_len = [ep_len] * n if isinstance(ep_len, int) else ep_len
        self.rows: list[list[dict]] = [[] for _ in range(n)]
        self.rng = np.random.default_rng(seed)
        self.episode = [0] * n

    def step(self, env_ids: list[int] | None = None) -> dict[str, np.ndarray]:
        ids = list(range(self.replay.num_envs)) if env_ids is None else env_ids
        new = [self._next_row(e) for e in ids]
        batch: dict[str, np.ndarray] = {
            "vector": np.array([[e, r["t"]] for e, r in zip(ids, new)], np.float32),
            "image": np.stack([np.full((4, 4, 3), r["t"] % 256, np.uint8) for r in new]),
            "action": np.array([[r["t"] + 0.5] for r in new], np.float32),
            "reward": np.array([r["reward"] for r in new], np.float32),
            "is_first": np.array([r["first"] for r in new]),
            "is_last": np.array([r["last"] for r in new]),
            "is_terminal": np.array([r["terminal"] for r in new]),
        }
        self.replay.add(batch, env_ids=env_ids)
        return batch

    def _next_row(self, env: int) -> dict:
        rows = self.rows[env]
        t = len(rows)
        first = t == 0 or rows[-1]["last"]
        if first:
            self.episode[env] += 1
            pos = 0
        else:
            pos = rows[-1]["pos"] + 1
        last = pos == self.ep_len[env] - 1
        row = {
            "t": t,
            "pos": pos,
            "reward": 0.0 if first else float(self.rng.integers(1, 100)),
            "first": first,
            "last": last,
            "terminal": last and self.episode[env] % 2 == 1,
        }
        rows.append(row)
        return row

    def stored(self, env: int) -> list[dict]:
        return self.rows[env][-self.replay.length :]


def _reference_transition(rows: list[dict], t: int, n: int) -> tuple[float, float, int]:
    k = n
    for j in range(1, n + 1):
        if rows[t + j]["last"]:
            k = j
            break
    reward = sum(GAMMA**i * rows[t + 1 + i]["reward"] for i in range(k))
    discount = GAMMA**k * (0.0 if rows[t + k]["terminal"] else 1.0)
    return reward, discount, t + k


def test_sequences_stay_in_one_stream_and_behind_the_write_point():
    replay = Replay(_spec(), capacity=3 * 20, num_envs=3, seed=1)
    streams = Streams(replay, ep_len=[4, 7, 1000])
    for step in range(75):  # wraps every ring; env 2 skips some steps (partial adds)
        streams.step(None if step % 3 else [0, 1])
    seen_envs = set()
    for _ in range(20):
        batch = replay.sample_sequences(16, 8)
        assert batch["image"].shape == (16, 8, 4, 4, 3) and batch["image"].dtype == torch.uint8
        assert batch["action"].shape == (16, 8, 1) and batch["reward"].shape == (16, 8)
        assert batch["is_first"].dtype == torch.bool
        for b in range(16):
            env = int(batch["vector"][b, 0, 0])
            seen_envs.add(env)
            assert (batch["vector"][b, :, 0] == env).all(), "a window mixed env streams"
            t = batch["vector"][b, :, 1].long()
            assert (t[1:] - t[:-1] == 1).all(), "a window crossed the write point"
            rows = streams.rows[env]
            assert t[0] >= len(rows) - replay.length and t[-1] < len(rows), (
                "evicted or unwritten rows"
            )
            expected_first = torch.tensor([rows[int(i)]["first"] for i in t])
            assert (batch["is_first"][b] == expected_first).all()
            assert (batch["image"][b, :, 0, 0, 0] == (t % 256).to(torch.uint8)).all()
            assert torch.allclose(batch["action"][b, :, 0], t.float() + 0.5)
    assert seen_envs == {0, 1, 2}


def test_sequences_span_episode_boundaries_marked_by_is_first():
    replay = Replay(_spec(image=False), capacity=40, num_envs=1, seed=0)
    streams = Streams(replay, ep_len=3)
    for _ in range(40):
        streams.step()
    batch = replay.sample_sequences(32, 10)
    # Every 10-row window of 3-row episodes holds episode starts, each right after an is_last.
    assert batch["is_first"].any(1).all()
    after_last = torch.zeros_like(batch["is_first"])
    after_last[:, 1:] = batch["is_last"][:, :-1]
    assert (batch["is_first"][:, 1:] == after_last[:, 1:]).all()


def test_uniform_sequences_cover_every_window_evenly():
    replay = Replay(_spec(image=False), capacity=10, num_envs=1, seed=0)
    streams = Streams(replay, ep_len=4)
    for _ in range(13):  # the ring holds t = 3 .. 12: 8 windows of 3
        streams.step()
    starts = replay.sample_sequences(4000, 3)["vector"][:, 0, 1].long()
    counts = torch.bincount(starts - 3, minlength=8)
    assert counts.numel() == 8 and (counts > 400).all() and (counts < 600).all(), counts


def test_recency_prefers_recent_windows():
    uniform = Replay(_spec(image=False), capacity=200, num_envs=1, sampling="uniform", seed=0)
    recency = Replay(_spec(image=False), capacity=200, num_envs=1, sampling="recency", seed=0)
    for replay in (uniform, recency):
        streams = Streams(replay, ep_len=50)
        for _ in range(200):
            streams.step()
    t_uniform = uniform.sample_sequences(2000, 4)["vector"][:, 0, 1]
    t_recent = recency.sample_sequences(2000, 4)["vector"][:, 0, 1]
    assert t_recent.min() >= 0 and t_recent.max() <= 196  # still only valid windows
    assert t_recent.mean() > t_uniform.mean() + 30
    newest = (t_recent >= 186).float().mean()  # the newest 5% of windows
    assert newest > 0.15, newest
    trans = recency.sample_transitions(2000, 3, GAMMA)["obs"]["vector"][:, 1]
    assert trans.mean() > t_uniform.mean() + 30


def test_transitions_known_answer_by_hand():
    spec = _spec(image=False)
    replay = Replay(spec, capacity=10, num_envs=1, seed=0)
    # t:        0  1  2     3  4  5     6  7   8   9
    reward = [0, 1, 2, 0, 4, 8, 0, 16, 32, 64]
    first = [1, 0, 0, 1, 0, 0, 1, 0, 0, 0]
    last = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0]  # t=2 terminates, t=5 is truncated
    term = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    for t in range(10):
        replay.add(
            {
                "vector": np.array([[0, t]], np.float32),
                "action": np.array([[t]], np.float32),
                "reward": np.array([reward[t]], np.float32),
                "is_first": np.array([first[t]], bool),
                "is_last": np.array([last[t]], bool),
                "is_terminal": np.array([term[t]], bool),
            }
        )
    # gamma = 0.5, n = 3; valid starts: not last, with 3 rows stored after them: 0, 1, 3, 4, 6.
    expected = {  # start: (reward, discount, next t)
        0: (1 + 0.5 * 2, 0.0, 2),  # terminates at t=2 (k=2)
        1: (2.0, 0.0, 2),  # k=1
        3: (4 + 0.5 * 8, 0.25, 5),  # truncated at t=5: bootstrap with gamma^2
        4: (8.0, 0.5, 5),
        6: (16 + 0.5 * 32 + 0.25 * 64, 0.125, 9),  # full 3 steps
    }
    batch = replay.sample_transitions(400, 3, GAMMA)
    starts = batch["obs"]["vector"][:, 1].long()
    assert set(starts.tolist()) == set(expected)
    for b, t in enumerate(starts.tolist()):
        r, d, nxt = expected[t]
        assert batch["reward"][b].item() == pytest.approx(r)
        assert batch["discount"][b].item() == pytest.approx(d)
        assert batch["next_obs"]["vector"][b, 1].item() == nxt
        assert batch["action"][b, 0].item() == t
    assert batch["reward"].shape == (400,) and batch["discount"].dtype == torch.float32


def test_transitions_match_reference_across_envs_and_wraparound():
    replay = Replay(_spec(), capacity=2 * 25, num_envs=2, seed=3)
    streams = Streams(replay, ep_len=[4, 9], seed=5)
    for step in range(70):
        streams.step(None if step % 4 else [1])
    for n in (1, 3):
        batch = replay.sample_transitions(256, n, GAMMA)
        assert batch["obs"]["image"].shape == (256, 4, 4, 3)
        assert batch["next_obs"]["image"].shape == (256, 4, 4, 3)
        for b in range(256):
            env, t = (int(v) for v in batch["obs"]["vector"][b])
            rows = streams.rows[env]
            assert len(rows) - replay.length <= t < len(rows) - n, "start outside the stored window"
            assert not rows[t]["last"], "a transition started at an is_last row"
            reward, discount, nxt = _reference_transition(rows, t, n)
            assert batch["reward"][b].item() == pytest.approx(reward)
            assert batch["discount"][b].item() == pytest.approx(discount)
            assert batch["next_obs"]["vector"][b].tolist() == [env, nxt]
            assert int(batch["next_obs"]["image"][b, 0, 0, 0]) == nxt % 256


def test_one_step_episodes_never_start_at_last_rows():
    replay = Replay(_spec(image=False), capacity=30, num_envs=1, seed=0)
    streams = Streams(replay, ep_len=2)  # first, last: half of all rows cannot start a transition
    for _ in range(45):
        streams.step()
    batch = replay.sample_transitions(500, 2, GAMMA)
    starts = batch["obs"]["vector"][:, 1].long()
    assert all(streams.rows[0][t]["first"] for t in starts.tolist())
    assert (batch["next_obs"]["vector"][:, 1].long() == starts + 1).all()  # k = 1 everywhere
    # each start is equally likely: 14 valid starts (t = 16, 18, .., 42), about 36 draws each
    counts = torch.bincount(starts)[starts.unique()]
    assert len(counts) == 14 and counts.min() > 10


def test_fifo_eviction_keeps_the_newest_rows():
    replay = Replay(_spec(image=False), capacity=16, num_envs=2, seed=0)
    streams = Streams(replay, ep_len=1000)
    for _ in range(50):
        streams.step()
    assert len(replay) == 16
    t = replay.sample_sequences(200, 1)["vector"][:, 0, 1]
    assert t.min() >= 42 and t.max() <= 49 and len(t.unique()) == 8


def test_sampling_too_early_is_a_clear_error():
    replay = Replay(_spec(image=False), capacity=20, num_envs=2, seed=0)
    streams = Streams(replay, ep_len=100)
    for _ in range(3):
        streams.step()
    assert replay.can_sample_sequences(3) and not replay.can_sample_sequences(4)
    assert replay.can_sample_transitions(2) and not replay.can_sample_transitions(3)
    with pytest.raises(ValueError, match="no stream holds T=4"):
        replay.sample_sequences(2, 4)
    with pytest.raises(ValueError, match="no transition start"):
        replay.sample_transitions(2, 3, GAMMA)
    with pytest.raises(ValueError, match="exceeds"):
        replay.sample_sequences(2, 11)
    with pytest.raises(ValueError, match="positive int"):
        replay.sample_sequences(0, 2)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="valid options: uniform, recency"):
        Replay(_spec(), capacity=10, num_envs=1, sampling="prioritised")
    with pytest.raises(ValueError, match="capacity >= num_envs"):
        Replay(_spec(), capacity=2, num_envs=4)
    replay = Replay(_spec(image=False), capacity=10, num_envs=2)
    row = {
        "vector": np.zeros((2, 2), np.float32),
        "action": np.zeros((2, 1), np.float32),
        "reward": np.zeros(2, np.float32),
        "is_first": np.ones(2, bool),
        "is_last": np.zeros(2, bool),
        "is_terminal": np.zeros(2, bool),
    }
    with pytest.raises(ValueError, match="lacks keys \\['action'\\]"):
        replay.add({k: v for k, v in row.items() if k != "action"})
    with pytest.raises(ValueError, match="'vector' has shape"):
        replay.add({**row, "vector": np.zeros((2, 3), np.float32)})
    with pytest.raises(ValueError, match="is_terminal but not is_last"):
        replay.add({**row, "is_terminal": np.ones(2, bool)})
    with pytest.raises(ValueError, match="env_ids"):
        replay.add({k: v[:1] for k, v in row.items()}, env_ids=[5])
    assert len(replay) == 0  # nothing half-added
    replay.add({k: torch.as_tensor(v[:1]) for k, v in row.items()}, env_ids=[1])  # tensors work too
    assert len(replay) == 1


def test_mark_last_turns_the_newest_rows_into_truncations():
    replay = Replay(_spec(image=False), capacity=20, num_envs=1, seed=0)
    streams = Streams(replay, ep_len=100)
    for _ in range(6):
        streams.step()
    replay.mark_last()  # an interrupted episode: t=5 becomes its last row (not terminal)
    streams.rows[0][-1]["last"] = True
    for _ in range(6):  # a new episode starts at t=6
        streams.step()
    assert streams.rows[0][6]["first"]
    batch = replay.sample_transitions(300, 3, GAMMA)
    starts = batch["obs"]["vector"][:, 1].long()
    assert 5 not in starts.tolist()
    for b, t in enumerate(starts.tolist()):
        reward, discount, nxt = _reference_transition(streams.rows[0], t, 3)
        assert batch["discount"][b].item() == pytest.approx(discount)
        assert batch["next_obs"]["vector"][b, 1].item() == nxt
    assert (batch["discount"][starts == 4] == GAMMA).all()  # truncation: bootstrap from v(obs_5)
    seq = replay.sample_sequences(100, 12)
    assert seq["is_last"][:, 5].all() and not seq["is_terminal"].any()


def test_same_seed_same_samples():
    def run(seed: int) -> torch.Tensor:
        replay = Replay(_spec(image=False), capacity=40, num_envs=2, seed=seed, sampling="recency")
        streams = Streams(replay, ep_len=6)
        for _ in range(30):
            streams.step()
        return replay.sample_sequences(8, 5)["vector"]

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_bytes_per_row_of_a_64x64x3_frame_is_within_5_percent():
    obs = {"image": ArraySpec((64, 64, 3), "uint8")}
    replay = Replay(row_spec(obs, ActSpec(6, discrete=False)), capacity=1000, num_envs=4)
    assert 12_288 <= replay.bytes_per_row <= 12_288 * 1.05
    assert replay.nbytes >= 1000 * 12_288
    line = replay.describe()
    assert "B/row" in line and "GiB" in line and "1,000 rows" in line


def test_storage_falls_back_to_cpu_when_the_gpu_is_too_full(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8 * 2**30, 80 * 2**30))
    cuda = torch.device("cuda")
    assert replay_module._storage_device(cuda, 4 * 2**30, 0.8) == cuda
    assert replay_module._storage_device(cuda, 12 * 2**30, 0.8) == torch.device("cpu")
    assert "storing it on the CPU" in capsys.readouterr().out
    assert replay_module._storage_device(torch.device("cpu"), 10**15, 0.8) == torch.device("cpu")


def _filled_replay(seed: int = 0) -> tuple[Replay, Streams]:
    replay = Replay(_spec(), capacity=2 * 12, num_envs=2, seed=seed, sampling="recency")
    streams = Streams(replay, ep_len=[3, 5])
    for step in range(20):
        streams.step(None if step % 3 else [0])
    return replay, streams


def test_save_load_resumes_exactly(tmp_path):
    replay, streams = _filled_replay()
    replay.save(tmp_path / "replay")
    expected_seq = replay.sample_sequences(6, 4)
    expected_tr = replay.sample_transitions(6, 2, GAMMA)
    added = streams.step([1])
    expected_after_add = replay.sample_sequences(6, 4)

    fresh = Replay(_spec(), capacity=2 * 12, num_envs=2, seed=99, sampling="recency")
    fresh.load(tmp_path / "replay")
    assert len(fresh) == len(replay) == 24
    for k, v in fresh.sample_sequences(6, 4).items():
        assert torch.equal(v, expected_seq[k]), k
    got_tr = fresh.sample_transitions(6, 2, GAMMA)
    assert torch.equal(got_tr["obs"]["image"], expected_tr["obs"]["image"])
    assert torch.equal(got_tr["next_obs"]["vector"], expected_tr["next_obs"]["vector"])
    assert torch.equal(got_tr["reward"], expected_tr["reward"])
    fresh.add(added, env_ids=[1])  # the pointers continue where they were
    for k, v in fresh.sample_sequences(6, 4).items():
        assert torch.equal(v, expected_after_add[k]), k


def test_save_replaces_an_old_checkpoint_and_leaves_no_temp_files(tmp_path):
    replay, _ = _filled_replay()
    replay.save(tmp_path / "replay")
    replay.save(tmp_path / "replay")  # over an existing one
    assert [p.name for p in tmp_path.iterdir()] == ["replay"]
    assert (tmp_path / "replay" / "meta.json").exists()


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    replay, streams = _filled_replay()
    replay.save(tmp_path / "replay")
    before = {p.name: p.read_bytes() for p in (tmp_path / "replay").iterdir()}
    calls = []

    def failing_write(path, store, filled):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(path, store, filled)

    original = replay_module.write_chunks  # replay.py's name for replay_files.write_chunks
    monkeypatch.setattr(replay_module, "write_chunks", failing_write)
    streams.step()
    with pytest.raises(OSError, match="disk full"):
        replay.save(tmp_path / "replay")
    after = {p.name: p.read_bytes() for p in (tmp_path / "replay").iterdir()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["replay"]


def _corrupt(path: Path, how: str) -> None:
    if how == "missing dir":
        for p in path.iterdir():
            p.unlink()
        path.rmdir()
    elif how == "garbled meta":
        (path / "meta.json").write_text("{not json")
    elif how == "missing file":
        (path / "image.bin").unlink()
    elif how == "truncated file":
        data = (path / "image.bin").read_bytes()
        (path / "image.bin").write_bytes(data[:-7])
    elif how == "flipped byte":
        flipped = bytearray((path / "reward.bin").read_bytes())
        flipped[5] ^= 0xFF
        (path / "reward.bin").write_bytes(bytes(flipped))
    elif how == "other spec":
        meta = json.loads((path / "meta.json").read_text())
        meta["spec"]["image"][0] = [8, 8, 3]
        (path / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "how,message",
    [
        ("missing dir", "not found"),
        ("garbled meta", "corrupt"),
        ("missing file", "missing or truncated"),
        ("truncated file", "missing or truncated"),
        ("flipped byte", "checksum"),
        ("other spec", "spec is"),
    ],
)
@pytest.mark.parametrize("target_empty", [True, False])
def test_bad_checkpoints_give_one_clear_error_and_change_nothing(
    tmp_path, how, message, target_empty
):
    replay, _ = _filled_replay()
    replay.save(tmp_path / "replay")
    _corrupt(tmp_path / "replay", how)
    target, _ = (
        (Replay(_spec(), capacity=24, num_envs=2, seed=7), None)
        if target_empty
        else _filled_replay(7)
    )
    size = len(target)
    gen_state = target._gen.get_state()
    data = {k: v.clone() for k, v in target._data.items()}
    with pytest.raises(ValueError, match=message) as err:
        target.load(tmp_path / "replay")
    assert "\n" not in str(err.value)
    assert len(target) == size and torch.equal(target._gen.get_state(), gen_state)
    if not target_empty:
        for k, v in target._data.items():
            assert torch.equal(v, data[k]), k


def test_load_across_storage_devices_keeps_the_data_and_reseeds(tmp_path, capsys):
    replay, _ = _filled_replay()
    replay.save(tmp_path / "replay")
    meta = json.loads((tmp_path / "replay" / "meta.json").read_text())
    meta["generator"] = "AAAA"  # a CUDA generator's state does not fit a CPU generator
    meta["generator_device"] = "cuda"
    (tmp_path / "replay" / "meta.json").write_text(json.dumps(meta))
    fresh = Replay(_spec(), capacity=24, num_envs=2, seed=0, sampling="recency")
    fresh.load(tmp_path / "replay")
    assert "sampling continues from this replay's seed" in capsys.readouterr().out
    for k, v in replay._data.items():
        assert torch.equal(fresh._data[k], v), k
    assert len(fresh) == len(replay)


@pytest.mark.parametrize("sampling", ["uniform", "recency"])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_transitions_match_reference_for_every_path(sampling, n):
    # Stream 1 alone first (one stream holds every start: the host-side pick), then both streams
    # past the ring's end (the searchsorted pick and the modulo paths).
    replay = Replay(_spec(image=False), capacity=2 * 12, num_envs=2, seed=n, sampling=sampling)
    streams = Streams(replay, ep_len=[3, 7], seed=n)
    for phase, steps in (([1], 10), (None, 30)):
        for _ in range(steps):
            streams.step(phase)
        batch = replay.sample_transitions(300, n, GAMMA)
        envs = set()
        for b in range(300):
            env, t = (int(v) for v in batch["obs"]["vector"][b])
            envs.add(env)
            rows = streams.rows[env]
            assert len(rows) - replay.length <= t < len(rows) - n and not rows[t]["last"]
            reward, discount, nxt = _reference_transition(rows, t, n)
            assert batch["reward"][b].item() == pytest.approx(reward)
            assert batch["discount"][b].item() == pytest.approx(discount)
            assert batch["next_obs"]["vector"][b].tolist() == [env, nxt]
            assert batch["action"][b, 0].item() == t + 0.5
        assert envs == ({1} if phase else {0, 1})


def test_samples_follow_new_rows_after_repeated_draws():
    # Draws are cached between adds: a new row must become a start at once.
    replay = Replay(_spec(image=False), capacity=10, num_envs=1, seed=0)
    streams = Streams(replay, ep_len=100)
    for _ in range(2):
        streams.step()
    for _ in range(3):
        assert set(replay.sample_transitions(50, 1, GAMMA)["obs"]["vector"][:, 1].tolist()) == {0}
    streams.step()
    assert set(replay.sample_transitions(200, 1, GAMMA)["obs"]["vector"][:, 1].tolist()) == {0, 1}
    assert set(replay.sample_sequences(200, 3)["vector"][:, 0, 1].tolist()) == {0}
    streams.step()
    assert set(replay.sample_sequences(200, 3)["vector"][:, 0, 1].tolist()) == {0, 1}


def test_load_replaces_the_draws_of_a_replay_that_sampled_before(tmp_path):
    source, _ = _filled_replay(seed=4)
    source.save(tmp_path / "replay")
    expected_tr = source.sample_transitions(64, 2, GAMMA)
    expected_seq = source.sample_sequences(8, 3)
    target = Replay(_spec(), capacity=2 * 12, num_envs=2, seed=1, sampling="recency")
    streams = Streams(target, ep_len=4)
    for _ in range(5):  # fewer rows than the checkpoint: stale draws would miss its newest rows
        streams.step()
    target.sample_transitions(64, 2, GAMMA)
    target.sample_sequences(8, 3)
    target.load(tmp_path / "replay")
    got_tr = target.sample_transitions(64, 2, GAMMA)
    assert torch.equal(got_tr["obs"]["vector"], expected_tr["obs"]["vector"])
    assert torch.equal(got_tr["discount"], expected_tr["discount"])
    assert torch.equal(target.sample_sequences(8, 3)["vector"], expected_seq["vector"])


@pytest.mark.parametrize("n", [1, 2, 4])
def test_transition_targets_equal_the_shared_nstep_targets(n):
    # The replay's batch-major n-step sum must agree with objectives.returns.nstep_targets on the
    # same rows (the shared definition every head documents).
    from worldmodels.objectives.returns import nstep_targets

    replay = Replay(_spec(image=False), capacity=40, num_envs=1, seed=2)
    streams = Streams(replay, ep_len=[2, 3, 5][n % 3], seed=n)
    for _ in range(60):
        streams.step()
    batch = replay.sample_transitions(128, n, 0.9)
    rows = streams.rows[0]
    starts = batch["obs"]["vector"][:, 1].long().tolist()
    follow = [[rows[t + 1 + i] for i in range(n)] for t in starts]  # [B][n]
    ref = nstep_targets(
        torch.tensor([[r["reward"] for r in f] for f in follow]).T,
        torch.tensor([[r["last"] for r in f] for f in follow]).T,
        torch.tensor([[r["terminal"] for r in f] for f in follow]).T,
        0.9,
    )
    assert torch.allclose(batch["reward"], ref.reward)
    assert torch.equal(batch["discount"], ref.discount)
    nxt = torch.tensor(starts) + ref.steps
    assert torch.equal(batch["next_obs"]["vector"][:, 1].long(), nxt)
