"""MLflow: metrics (step = env frames), the config as params and as config.yaml, the metadata
as tags and metadata.json, videos as artifacts.

Store: `logger.mlflow.tracking_uri` (null: $MLFLOW_TRACKING_URI when set, else a local file
store in RUN_DIR/mlruns; `mlflow ui --backend-store-uri RUN_DIR/mlruns` shows it). MLflow 3
refuses file stores unless MLFLOW_ALLOW_FILE_STORE=true; a file store chosen here sets it for this
process. A resume continues the same MLflow run (its id is kept in RUN_DIR/mlflow_run_id).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from worldmodels.logger.backend import flat, require

ID_FILE = "mlflow_run_id"
#: MLflow's limits: params per batch call, characters per param value
_PARAMS_PER_CALL = 100
_PARAM_CHARS = 6000


class MLflowBackend:
    name = "mlflow"

    def __init__(
        self,
        run_dir: Path,
        purge_step: int | None = None,
        tracking_uri: str | None = None,
        experiment: str = "worldmodels",
        run_name: str | None = None,
    ):
        require("mlflow", "mlflow", "mlflow")
        self.run_dir = Path(run_dir)
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            uri = (self.run_dir / "mlruns").resolve().as_uri()
        if uri.startswith("file:") or "://" not in uri:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        id_file = self.run_dir / ID_FILE
        if purge_step is not None and id_file.exists():
            self.run_id = id_file.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            found = self.client.get_experiment_by_name(experiment)
            exp_id = found.experiment_id if found else self.client.create_experiment(experiment)
            run = self.client.create_run(exp_id, run_name=run_name or self.run_dir.name)
            self.run_id = run.info.run_id
            id_file.write_text(self.run_id + "\n")

    def log_metrics(self, counters: Mapping[str, int], metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        step = int(counters["env_frames"])
        rows = [Metric(_key(k), float(v), now, step) for k, v in metrics.items()]
        rows += [Metric(k, float(v), now, step) for k, v in counters.items() if k != "env_frames"]
        self.client.log_batch(self.run_id, metrics=rows)

    def log_config(self, config: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        from mlflow.entities import Param, RunTag

        params = [Param(_key(k), str(v)[:_PARAM_CHARS]) for k, v in flat(config).items()]
        for i in range(0, len(params), _PARAMS_PER_CALL):
            self.client.log_batch(self.run_id, params=params[i : i + _PARAMS_PER_CALL])
        tags = [
            RunTag(f"worldmodels.{k}", str(v)[:_PARAM_CHARS]) for k, v in flat(metadata).items()
        ]
        self.client.log_batch(self.run_id, tags=tags)
        from omegaconf import OmegaConf

        self.client.log_text(
            self.run_id, OmegaConf.to_yaml(OmegaConf.create(dict(config))), "config.yaml"
        )
        self.client.log_text(
            self.run_id, json.dumps(metadata, indent=2, default=str), "metadata.json"
        )

    def log_video(
        self, name: str, path: Path, gif: bytes, shape: tuple[int, ...], step: int
    ) -> None:
        self.client.log_artifact(self.run_id, str(path), "videos")

    def flush(self) -> None:
        """Every call is written when made."""

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


def _key(name: str) -> str:
    """MLflow keys allow alphanumerics, _ - . space / : only."""
    return "".join(c if c.isalnum() or c in "_-. /:" else "_" for c in name)
