"""The `logger` config group through the real entry point: every backend holds the run's
metrics and config (read back with its own library), the run dir names what ran."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from worldmodels.errors import UserError
from worldmodels.train import run

BASE = ["agent=random", "env=dummy", "env.image_size=16", "logger.video=false"]


def _jsonl(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _eval(run_dir: Path) -> dict:
    return next(r for r in _jsonl(run_dir) if "eval/return_mean" in r)


def test_tensorboard_and_csv_hold_metrics_config_and_metadata(run_overrides):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = run(run_overrides(*BASE, "logger=[tensorboard,csv]"))
    want = _eval(run_dir)

    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["env_frames"]) for r in rows] == [r["env_frames"] for r in _jsonl(run_dir)]
    (row,) = [r for r in rows if r["eval/return_mean"]]
    assert float(row["eval/return_mean"]) == pytest.approx(want["eval/return_mean"])

    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"tensors": 0}).Reload()
    (scalar,) = events.Scalars("eval/return_mean")
    assert scalar.step == want["env_frames"] and scalar.value == pytest.approx(
        want["eval/return_mean"]
    )
    tags = events.Tags()["tensors"]
    assert "config/text_summary" in tags and "metadata/text_summary" in tags
    text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"steps": 160' in text and '"suite": "dummy"' in text
    hparams = events.summary_metadata["_hparams_/session_start_info"].plugin_data.content
    assert b"trainer.steps" in hparams and b"env.task" in hparams


def test_wandb_offline_run_holds_metrics_and_config(run_overrides):
    pytest.importorskip("wandb", reason="wandb is optional (pip install wandb)")
    run_dir = run(run_overrides(*BASE, "logger=[wandb]"))
    assert not (run_dir / "tb").exists()  # tensorboard was not selected
    want = _eval(run_dir)
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    # W&B's own reader of its transaction log (no server, no network)
    cli = [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(offline)]
    out = subprocess.run(cli, capture_output=True, text=True, check=True, timeout=120).stdout
    records = [json.loads(line) for line in out.splitlines()]
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    logged = [h for h in history if "eval/return_mean" in h]
    assert len(logged) == 1 and logged[0]["env_frames"] == want["env_frames"]
    assert logged[0]["eval/return_mean"] == pytest.approx(want["eval/return_mean"])
    summary = json.loads(subprocess.run(
        [*cli[:-1], "--summary", str(offline)], capture_output=True, text=True, check=True,
        timeout=120).stdout)  # fmt: skip
    config = summary["config"]
    assert config["trainer"]["steps"] == 160 and config["env"]["suite"] == "dummy"
    assert config["_metadata"]["git"]["commit"] == _head()
    assert summary["state"] == "finished"


def test_mlflow_file_store_run_holds_metrics_and_config(run_overrides):
    pytest.importorskip("mlflow", reason="mlflow is optional (pip install mlflow)")
    run_dir = run(run_overrides(*BASE, "logger=[mlflow]"))
    want = _eval(run_dir)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(run_dir / "mlruns").resolve().as_uri())
    run_id = (run_dir / "mlflow_run_id").read_text().strip()
    got = client.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params["trainer.steps"] == "160" and got.data.params["env.suite"] == "dummy"
    assert got.data.tags["worldmodels.git.commit"] == _head()
    (point,) = client.get_metric_history(run_id, "eval/return_mean")
    assert point.step == want["env_frames"] and point.value == pytest.approx(
        want["eval/return_mean"]
    )
    assert "trainer:\n" in Path(client.download_artifacts(run_id, "config.yaml")).read_text()


def _head() -> str:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip


def test_metadata_names_the_commit_and_the_console_is_in_train_log(run_overrides):
    run_dir = run(run_overrides(*BASE, "logger=[csv]"))
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert meta["git"]["commit"] == _head() and isinstance(meta["git"]["dirty"], bool)
    assert meta["packages"]["torch"] and meta["host"] and meta["device"] == "cpu"
    # the kernels torch picked on this CPU: runs reproduce bit for bit only where they match
    assert meta["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert meta["cpu_capability"] in {"DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "SVE256"}
    assert "logger=[csv]" in meta["overrides"] and meta["command"][0] == sys.executable
    log = (run_dir / "train.log").read_text()
    assert f"run dir: {run_dir}" in log and "eval/return_mean=" in log
    # a resume appends its own record and keeps the log
    run([f"resume={run_dir}", "trainer.steps=200", "logger.progress=false"])
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert len(meta["resumes"]) == 1 and meta["resumes"][0]["git"]["commit"] == _head()
    assert (run_dir / "train.log").read_text().startswith(log)
    with open(run_dir / "metrics.csv", newline="") as f:
        frames = [int(r["env_frames"]) for r in csv.DictReader(f)]
    assert frames == [r["env_frames"] for r in _jsonl(run_dir)] and frames[-1] == 200  # once each


def test_bad_logger_settings_are_one_line_errors(run_overrides, monkeypatch):
    from worldmodels.logger import build

    with pytest.raises(UserError, match=r"unknown option logger\.csv\.bogus; valid: file"):
        run(run_overrides(*BASE, "logger=[csv]", "+logger.csv.bogus=1"))
    monkeypatch.setitem(build.BACKENDS, "wandb", (*build.BACKENDS["wandb"][:2], "no_such_pkg_x"))
    with pytest.raises(UserError, match=r"needs the 'no_such_pkg_x' package.*pip install"):
        run(run_overrides(*BASE, "logger=[tensorboard,wandb]"))
