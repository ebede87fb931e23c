"""The side-by-side harness (scripts/side_by_side.py) runs end to end in its fast mode: our side
trains a few updates of preset=dreamer_v3 on dmc_proprio and the summary writes its table, CSV
and figure; without the official venv the official side is skipped with a message."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_fast_mode_runs_our_side_and_writes_the_summary(tmp_path):
    env = {**os.environ, "DV3_ROOT": str(tmp_path / "no_official_here")}
    out = tmp_path / "sbs"
    proc = subprocess.run(
        # eager (an empty --ours-override): compiling would add most of a minute to CI
        [sys.executable, str(ROOT / "scripts" / "side_by_side.py"), "--fast", "--out", str(out),
         "--ours-override"],  # fmt: skip
        capture_output=True,
        text=True,
        env=env,
        timeout=580,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "official side skipped: no venv in" in proc.stdout
    md = (out / "side_by_side.md").read_text()
    assert "| metric | update |" in md and "ours_cartpole_balance_s0" in md
    rows = list(csv.DictReader((out / "side_by_side.csv").open()))
    dyn = [r for r in rows if r["metric"] == "dyn"]
    assert dyn and all(r["ours_mean"] not in ("", "-") for r in dyn)  # our curve was read
    assert (out / "side_by_side.png").stat().st_size > 10_000
