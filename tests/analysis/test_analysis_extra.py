"""Without the `analysis` extra the report says so in one line (training never needs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Hide rliable from this interpreter, as on an install without the analysis extra.
BLOCK = """
import importlib.abc, runpy, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "rliable":
            raise ModuleNotFoundError("No module named 'rliable'", name="rliable")
sys.meta_path.insert(0, Block())
import importlib.util
importlib.util.find_spec = lambda name, *a: None if name == "rliable" else _find(name, *a)
"""


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    prelude = "import importlib.util; _find = importlib.util.find_spec\n" + BLOCK
    return subprocess.run([sys.executable, "-c", prelude + code, *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_report_without_the_extra_is_one_line(tmp_path):
    code = "sys.argv[0] = 'report'; runpy.run_module('worldmodels.report', run_name='__main__')"
    out = _run(code, str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: python -m worldmodels.report needs the analysis extra (rliable missing); "
        "pip install -e '.[analysis]' (or pip install rliable)"
    ]


def test_training_imports_without_the_extra():
    out = _run("import worldmodels.train, worldmodels.logger.build; print('ok')")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    assert "rliable" not in out.stderr
