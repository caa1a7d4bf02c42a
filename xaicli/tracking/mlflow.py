"""MLflow: one MLflow run per run directory, in the experiment named after the config's `name`.

The store is MLFLOW_TRACKING_URI when set, else a local SQLite file next to the runs folder
(`<parent of train.runs_dir>/mlflow.db`, artifacts in `mlartifacts/` beside it):
`mlflow ui --backend-store-uri sqlite:///mlflow.db` shows them. Params are the resolved config as dotted
keys; metrics are logged asynchronously (MLflow's own queue), so the loop does not wait for the store.
The MLflow run id is kept in RUN/tracking.json: a resumed run, `xai eval` and `xai explain` add to the
same MLflow run. MLflow's usage telemetry is switched off (trackers here are offline).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from xaicli.errors import XaiError
from xaicli.runs.files import write_json
from xaicli.tracking import scalars

RECORD = "tracking.json"
MAX_PARAM = 6000  # MLflow's limit on a param value's length
STATUS = {"finished": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}


def tracking_uri(runs_dir: str | Path) -> str:
    """MLFLOW_TRACKING_URI, else sqlite:///<parent of runs_dir>/mlflow.db."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return "sqlite:///" + str(Path(runs_dir).resolve().parent / "mlflow.db")


def flat_params(config: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict) and not (prefix == "model." and key == "args"):
            out.update(flat_params(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return {k: v[:MAX_PARAM] for k, v in out.items()}


def saved_run(run_dir: Path) -> dict | None:
    try:
        record = json.loads((run_dir / RECORD).read_text()).get("mlflow")
    except (OSError, ValueError, AttributeError):
        return None
    return record if isinstance(record, dict) and record.get("run_id") else None


def _client(uri: str):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("alembic", "mlflow"):  # the store's first migration logs a page of INFO lines
        logging.getLogger(name).setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _experiment(client, name: str, uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


class MlflowTracker:
    name = "mlflow"

    def __init__(self, client, run_id: str, location: str, attach: bool) -> None:
        self.client, self.run_id, self.location, self.attach = client, run_id, location, attach
        self.pending: list = []

    def on_row(self, record: dict) -> None:
        from mlflow.entities import Metric

        step, values = scalars(record)
        stamp = int(time.time() * 1000)
        metrics = [Metric(tag, value, stamp, step) for tag, value in values]
        if metrics:
            self.pending.append(self.client.log_batch(self.run_id, metrics=metrics, synchronous=False))

    def on_image(self, tag: str, png: Path, step: int) -> None:
        self.client.log_artifact(self.run_id, str(png), artifact_path=tag.rsplit("/", 1)[0] if "/" in tag else tag)

    def close(self, status: str) -> None:
        for operation in self.pending:
            if operation is not None:
                operation.wait()
        self.pending = []
        if not self.attach:
            self.client.set_terminated(self.run_id, STATUS[status])


def open_tracker(cfg, run_dir: Path, attach: bool = False, new_run: bool = False) -> MlflowTracker:
    """The run's MLflow run: the one RUN/tracking.json names (a resume, an eval), else a new one.
    `attach`: add results to a run that has ended without changing its status. `new_run`: always a new
    MLflow run (an export)."""
    from xaicli import config as cfgmod

    uri = tracking_uri(cfg.train.runs_dir)
    client = _client(uri)
    saved = None if new_run else saved_run(run_dir)
    if saved is not None and saved.get("tracking_uri") == uri:
        if not attach:
            client.update_run(saved["run_id"], status="RUNNING")
            _log_new_params(client, saved["run_id"], cfgmod.to_dict(cfg))
        return MlflowTracker(client, saved["run_id"], uri, attach)
    if attach:
        raise XaiError(f"{run_dir}: no MLflow run recorded in {uri}; xai export {run_dir} --to mlflow makes one")
    experiment = _experiment(client, cfg.name, uri)
    run = client.create_run(experiment, run_name=run_dir.name,
                            tags={"xai.run_dir": str(run_dir.resolve()), "xai.model": cfg.model.name})
    run_id = run.info.run_id
    _log_new_params(client, run_id, cfgmod.to_dict(cfg))
    if (run_dir / "config.yaml").is_file():
        client.log_artifact(run_id, str(run_dir / "config.yaml"))
    write_json(run_dir / RECORD, {"mlflow": {"tracking_uri": uri, "experiment_id": experiment, "run_id": run_id}})
    return MlflowTracker(client, run_id, uri, attach=False)


def _log_new_params(client, run_id: str, config: dict) -> None:
    """The config as params; on a resume only keys not logged yet (MLflow refuses to change a param)."""
    from mlflow.entities import Param

    logged = client.get_run(run_id).data.params
    params = [Param(k, v) for k, v in flat_params(config).items() if k not in logged]
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i:i + 100])
