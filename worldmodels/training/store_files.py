"""Restoring a store's bulk rows (the replay) from a checkpoint, or saying why not."""

from __future__ import annotations

from pathlib import Path

from worldmodels.data.store import Store, StoreRestoreError
from worldmodels.training import checkpoint

FLAG = "resume_without_replay=true continues with an empty replay (not an exact resume)"


def restore_store_files(store: Store, ckpt_dir: Path | None, allow_empty: bool) -> None:
    """The checkpoint's replay into `store`, or CheckpointError: training on with an empty
    replay would be a different run, so it takes resume_without_replay=true (`allow_empty`)."""
    if not store.has_files:
        return
    replay_dir = ckpt_dir / checkpoint.REPLAY_DIR if ckpt_dir is not None else None
    if replay_dir is not None and replay_dir.exists():
        try:
            store.restore(replay_dir)
            return
        except ValueError as err:
            if not allow_empty:
                raise checkpoint.CheckpointError(f"{err}; {FLAG}") from err
            problem = f"the replay in {replay_dir} is unreadable ({err})"
    else:
        saved = checkpoint.read_manifest(ckpt_dir).get("replay") if ckpt_dir else None
        problem = (
            f"the checkpoint in {ckpt_dir} was written without its replay "
            "(trainer.save_replay=false)"
            if saved is False
            else f"the replay of the checkpoint in {ckpt_dir} is missing ({replay_dir})"
        )
        if not allow_empty:
            raise checkpoint.CheckpointError(f"{problem}; {FLAG}")
    print(f"resume: {problem}; resume_without_replay=true: an empty replay", flush=True)


__all__ = ["StoreRestoreError", "restore_store_files"]
