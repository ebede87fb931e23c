"""CSV: RUN_DIR/metrics.csv, one row per log event, one column per counter and metric.

Columns appear as metrics do (evaluation metrics first arrive at the first evaluation): when a
row brings a new name the file is rewritten with the wider header, earlier rows left blank there
(the file stays one rectangular table that pandas.read_csv or a spreadsheet reads).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

COUNTERS = ("env_frames", "policy_steps", "grad_steps", "wall_time")


class CSVBackend:
    name = "csv"

    def __init__(self, run_dir: Path, purge_step: int | None = None, file: str = "metrics.csv"):
        """`purge_step` (a resume): rows at this env frame and later were written after the
        resumed checkpoint; they are dropped (the resumed run writes them again)."""
        self.path = Path(run_dir) / file
        self.columns: list[str] = []
        self.rows: list[dict[str, str]] = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                self.columns = list(reader.fieldnames or [])
                self.rows = [
                    r
                    for r in reader
                    if purge_step is None or float(r.get("env_frames") or 0) < purge_step
                ]
        self._rewrite()

    def log_metrics(self, counters: Mapping[str, int], metrics: Mapping[str, float]) -> None:
        row = {k: _cell(v) for k, v in {**counters, **metrics}.items()}
        new = [k for k in row if k not in self.columns]
        self.rows.append(row)
        if new:  # a wider header: rewrite the table once
            self.columns += sorted(new, key=_column_order)
            self._rewrite()
        else:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, self.columns).writerow(row)

    def _rewrite(self) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            if self.columns:
                writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)

    def log_config(self, config: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        """Nothing: the config is RUN_DIR/config.yaml and the metadata RUN_DIR/metadata.json."""

    def log_video(
        self, name: str, path: Path, gif: bytes, shape: tuple[int, ...], step: int
    ) -> None:
        """Nothing: videos are files in RUN_DIR/videos."""

    def flush(self) -> None:
        """Every row is written when logged."""

    def close(self) -> None:
        """No file is held open."""


def _cell(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _column_order(name: str) -> tuple[int, str]:
    """Counters first, in their usual order, then metrics by name."""
    return (COUNTERS.index(name), "") if name in COUNTERS else (len(COUNTERS), name)
