"""`python -m MODULE --help` on every entry module of the package prints usage and creates
nothing (train/evaluate/compare are Hydra apps with their own --help)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HYDRA_APPS = {"worldmodels.train", "worldmodels.evaluate", "worldmodels.compare"}
MAIN = re.compile(r'^if __name__ == "__main__":', re.MULTILINE)


def entry_modules() -> list[str]:
    found = []
    for path in sorted((ROOT / "worldmodels").rglob("*.py")):
        if MAIN.search(path.read_text()):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            if module not in HYDRA_APPS:
                found.append(module)
    return found


def test_entry_modules_are_found():
    assert "worldmodels.analysis.synthetic" in entry_modules()
    assert "worldmodels.report" in entry_modules()


@pytest.mark.parametrize("module", entry_modules())
def test_help_prints_usage_and_writes_nothing(module, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: python -m {module}"), out.stdout[:200]
    assert list(tmp_path.iterdir()) == []  # e.g. no run dir named "--help"
