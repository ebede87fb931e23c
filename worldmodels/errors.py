"""The errors a command reports as one line, and the exit codes of every entry point.

- `UserError` (bad config value, bad path, a checkpoint that cannot be resumed as asked): exit
  code `EXIT_USER_ERROR`, the same for Hydra's own errors (grammar, unknown group option).
- `RunFailed` (the run itself broke: a non-finite loss, diverging weights, a dead env worker):
  exit code `EXIT_RUN_FAILED`; the run's status.json says "failed".
- A run stopped by SIGTERM/SIGINT writes a checkpoint, says "preempted" in status.json and exits
  with the shell's code for that signal (128 + signal number), so schedulers see a kill.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

#: Every user error, whichever layer (Hydra, the schema, the checkpoint, an agent) finds it.
EXIT_USER_ERROR = 2
#: The run started and failed (status.json "failed"); its last good checkpoint is kept.
EXIT_RUN_FAILED = 3


def exit_code_for_signal(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 143 for SIGTERM, 130 for SIGINT."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class UserError(ValueError):
    """Bad input from the user (config, paths, resume requests): one line, no traceback."""


class RunFailed(RuntimeError):
    """The run broke while training (non-finite loss, diverging weights, a dead env worker)."""


class Preempted(BaseException):
    """A stop signal ended the run (BaseException: no `except Exception` swallows it). Raised
    after the checkpoint the signal asked for, or at once on a second signal."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal_name(signum)}")
        self.signum = signum


def _fail(message: str, code: int) -> NoReturn:
    print(f"worldmodels: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


@contextmanager
def exit_on_errors() -> Iterator[None]:
    """Entry points: every known error becomes one line on stderr and its exit code (set
    WM_DEBUG=1 for the traceback). Unknown exceptions (bugs) keep their traceback."""
    from hydra.errors import InstantiationException

    try:
        yield
    except Preempted as stop:
        sys.exit(exit_code_for_signal(stop.signum))
    except BaseException as err:
        if os.environ.get("WM_DEBUG") or not isinstance(err, Exception):
            raise
        if isinstance(err, RunFailed):
            _fail(_one_line(err), EXIT_RUN_FAILED)
        if isinstance(err, InstantiationException):  # an agent rejecting its arguments or env
            _fail(_one_line(err.__cause__ or err), EXIT_USER_ERROR)
        if isinstance(err, ValueError):  # UserError, CheckpointError, a constructor's check
            _fail(_one_line(err), EXIT_USER_ERROR)
        if isinstance(err, PermissionError):
            _fail(f"permission denied: {err.filename or err}", EXIT_USER_ERROR)
        if isinstance(err, OSError):
            _fail(f"{type(err).__name__}: {_one_line(err)}", EXIT_RUN_FAILED)
        raise


@contextmanager
def hydra_user_error_exit() -> Iterator[None]:
    """Around a @hydra.main function: Hydra reports its own config errors (override grammar, a
    missing option) with exit code 1; they are user errors, so they exit EXIT_USER_ERROR."""
    from hydra.errors import HydraException, InstantiationException

    try:
        yield
    except SystemExit as stop:
        cause = stop.__context__
        if (
            stop.code == 1
            and isinstance(cause, HydraException)
            and not isinstance(cause, InstantiationException)
        ):
            sys.exit(EXIT_USER_ERROR)
        raise


def _one_line(err: BaseException) -> str:
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip())
