"""`xai export RUN --to tensorboard|mlflow`: replay a run directory into a tracker, through the same
calls a live run makes, so the run directory stays the source of truth and trackers can come later."""

from __future__ import annotations

from pathlib import Path

from xaicli.errors import ConfigError
from xaicli.tracking import EPOCH_IMAGES, MODULES, open_tracker
from xaicli.tracking.results import evaluation_images, evaluation_row, explanation_images

TARGETS = tuple(MODULES)


def replay(run_dir: Path, tracker) -> int:
    """Every row of metrics.jsonl (with each epoch's images after its row), every evaluation of
    eval/history.jsonl with the latest figures, every explanation grid. Returns the rows replayed."""
    from xaicli.runs.listing import read_json
    from xaicli.runs.metrics_log import read_rows

    rows = read_rows(run_dir / "metrics.jsonl")
    for row in rows:
        tracker.on_row(row)
        if row.get("kind") == "epoch":
            for tag, pattern in EPOCH_IMAGES:
                png = run_dir / pattern.format(epoch=row.get("epoch"))
                if png.is_file():
                    tracker.on_image(tag, png, int(row["epoch"]))
    for evaluation in read_rows(run_dir / "eval" / "history.jsonl"):
        tracker.on_row(evaluation_row(evaluation))
    latest = read_json(run_dir / "eval" / "metrics.json")
    for tag, png, step in evaluation_images(latest or {}):
        if png.is_file():
            tracker.on_image(tag, png, step)
    explained = sorted(p for p in (run_dir / "explain").glob("*") if p.is_dir()) if (run_dir / "explain").is_dir() \
        else []
    for folder in explained:
        for tag, png, step in explanation_images(folder):
            tracker.on_image(tag, png, step)
    return len(rows)


def export_run(run: str | Path, to: str, out: str | Path | None = None) -> str:
    """Replay a run that is not running into TensorBoard (RUN/tb/, or `out`) or MLflow (a new MLflow run);
    returns where it went."""
    from xaicli import config as cfgmod
    from xaicli.runs.layout import resolve_run
    from xaicli.runs.listing import read_json
    from xaicli.runs.status import run_status

    if to not in TARGETS:
        raise ConfigError(f"--to {to}: expected one of {', '.join(TARGETS)}")
    run_dir, _ = resolve_run(run)
    meta = read_json(run_dir / "meta.json")
    status = run_status(run_dir, meta)
    if status.status == "running":
        raise ConfigError(f"{run_dir}: still running ({status.detail}); export it once it has ended, or log it "
                          f"live with train.loggers=[{to}]")
    cfg = cfgmod.load_run(run_dir)
    options = _target_options(run_dir, cfg, to, out)
    tracker = open_tracker(to, cfg, run_dir, **options)
    replay(run_dir, tracker)
    tracker.close(status.status)
    return tracker.location


def _target_options(run_dir: Path, cfg, to: str, out: str | Path | None) -> dict:
    """Where the export goes, refusing to log a run twice into the same place."""
    if to == "tensorboard":
        from xaicli.tracking.tensorboard import FOLDER, has_events

        log_dir = Path(out) if out is not None else run_dir / FOLDER
        if has_events(log_dir):
            raise ConfigError(f"{log_dir}: already holds TensorBoard events (logged live or exported before); "
                              f"choose another folder with --out DIR")
        return {"log_dir": log_dir}
    if out is not None:
        raise ConfigError("--out: only for --to tensorboard; MLflow follows MLFLOW_TRACKING_URI (else a SQLite "
                          "store next to the runs folder)")
    from xaicli.tracking.mlflow import saved_run, tracking_uri

    saved = saved_run(run_dir)
    if saved is not None and saved.get("tracking_uri") == tracking_uri(cfg.train.runs_dir):
        raise ConfigError(f"{run_dir}: already in MLflow as run {saved['run_id']} ({saved['tracking_uri']}); "
                          f"delete it there to export again")
    return {"new_run": True}
