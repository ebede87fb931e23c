"""Checkpoints: atomic swap; corrupt/missing files and config mismatches give clear errors."""

import pytest
import torch

from worldmodels.training import checkpoint


def test_save_load_roundtrip_and_swap(tmp_path):
    checkpoint.save(tmp_path, {"x": torch.arange(3)})
    checkpoint.save(tmp_path, {"x": torch.arange(4)})
    state, where = checkpoint.load(tmp_path)
    assert torch.equal(state["x"], torch.arange(4))
    assert where == tmp_path / "checkpoint"
    assert not (tmp_path / "checkpoint.old").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".checkpoint")] == []


def test_missing_and_corrupt_checkpoints_raise_clear_errors(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint"):
        checkpoint.load(tmp_path)
    checkpoint.save(tmp_path, {"x": 1})
    path = tmp_path / "checkpoint" / checkpoint.STATE_FILE
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(checkpoint.CheckpointError, match="corrupt"):
        checkpoint.load(tmp_path)


def test_failed_save_keeps_previous_checkpoint(tmp_path):
    checkpoint.save(tmp_path, {"x": 1})

    class Exploding:
        def save(self, path):
            raise OSError("disk full")

    with pytest.raises(OSError):
        checkpoint.save(tmp_path, {"x": 2}, replay=Exploding())
    state, _ = checkpoint.load(tmp_path)
    assert state["x"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]


def test_interrupted_swap_falls_back_to_old(tmp_path):
    checkpoint.save(tmp_path, {"x": 7})
    (tmp_path / "checkpoint").rename(tmp_path / "checkpoint.old")  # crash between the two renames
    assert checkpoint.has_checkpoint(tmp_path)
    state, _ = checkpoint.load(tmp_path)
    assert state["x"] == 7


def test_check_compatible_names_differences():
    checkpoint.check_compatible({"a": 1, "b": 2}, {"a": 1, "b": 2}, "config")
    with pytest.raises(checkpoint.CheckpointError, match="b: 2 in checkpoint vs 3 now"):
        checkpoint.check_compatible({"a": 1, "b": 2}, {"a": 1, "b": 3}, "config")
