"""The glibc malloc setting that `python -m worldmodels.train` applies on CPU takes effect here."""

from __future__ import annotations

import platform
import sys

import pytest

from worldmodels.training.cpu_allocator import keep_freed_memory


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)
def test_mallopt_settings_take_effect_on_glibc():
    assert keep_freed_memory() is True
