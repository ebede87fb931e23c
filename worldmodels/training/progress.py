"""The progress bar on stderr (tqdm): frames, fps, the last episode return, grad steps."""

from __future__ import annotations

from typing import Any


class Progress:
    """A tqdm bar over `total` frames from `initial`; does nothing when not `enabled`."""

    def __init__(self, enabled: bool, total: int, initial: int):
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="frame", unit_scale=True,
                            dynamic_ncols=True, mininterval=1.0)  # fmt: skip

    def update(self, frames: int, last_return: float, grad_steps: int) -> None:
        if self.bar is not None:
            self.bar.update(frames)
            self.bar.set_postfix(ret=f"{last_return:.1f}", grad=grad_steps, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
