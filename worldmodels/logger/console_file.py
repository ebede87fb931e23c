"""The console also in RUN_DIR/train.log: stdout as printed, stderr without progress-bar redraws.

The code prints with `print` and `tqdm.write` (stdout) and draws the progress bar on stderr with
carriage returns; writes that carry a "\\r" are bar redraws and stay off the file. A run that ends
with an exception has its one-line reason written to the file too.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import IO, Any

FILE = "train.log"


class _Tee:
    """A text stream that writes to the console and to the log file."""

    def __init__(self, console: IO[str], file: IO[str], skip_redraws: bool):
        self._console = console
        self._file = file
        self._skip_redraws = skip_redraws

    def write(self, text: str) -> int:
        n = self._console.write(text)
        if not (self._skip_redraws and "\r" in text) and not self._file.closed:
            self._file.write(text)
        return n

    def close(self) -> None:
        """Closes nothing: the console is the process's and the file is ConsoleFile's. A logging
        handler made while this tee was sys.stderr keeps it as its stream (absl's, when
        dm_control is first imported inside a run) and closes it when Hydra reconfigures logging
        before the next multirun job; forwarded, that would close the real stderr and kill
        every later job of the sweep."""

    def flush(self) -> None:
        self._console.flush()
        if not self._file.closed:
            self._file.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding: the console's
        return getattr(self._console, name)


class ConsoleFile:
    """Context manager; `open(path)` starts copying the console into `path` (appended: a resumed
    run's log continues the earlier one), the end of the block stops it."""

    def __init__(self) -> None:
        self._file: IO[str] | None = None
        self._saved: tuple[Any, Any] | None = None

    def open(self, path: Path) -> None:
        if self._file is not None:
            return
        self._file = open(path, "a", buffering=1)  # noqa: SIM115 (closed in __exit__)
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, self._file, skip_redraws=False)
        sys.stderr = _Tee(sys.stderr, self._file, skip_redraws=True)

    def __enter__(self) -> ConsoleFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is None:
            return
        assert self._saved is not None
        sys.stdout, sys.stderr = self._saved
        if err is not None:
            self._file.write(
                f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}\n"
            )
        self._file.close()
        self._file = None
