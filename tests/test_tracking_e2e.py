"""Trackers on real training runs: TensorBoard's event files read back equal metrics.jsonl exactly (scalars
and sample grids), eval and explain add to them, MLflow gets the same values and the config as params,
`xai export` replays a run that logged nothing, and a tracker that breaks mid-run costs nothing."""

from __future__ import annotations

import json

import pytest
from conftest import SMOKE, SMOKE_GAN, cli, xai

from xaicli.runs.metrics_log import read_rows
from xaicli.tracking import by_tag

pytestmark = pytest.mark.e2e
pytest.importorskip("tensorboard")


def expected(run, evaluations: bool = False) -> dict[str, list[tuple[int, float]]]:
    """The scalars of metrics.jsonl (and with `evaluations`, of every evaluation in eval/history.jsonl)."""
    from xaicli.tracking.results import evaluation_row

    rows = read_rows(run / "metrics.jsonl")
    if evaluations:
        rows += [evaluation_row(e) for e in read_rows(run / "eval" / "history.jsonl")]
    return by_tag(rows)


def test_tensorboard_events_equal_metrics_jsonl_and_grow_with_eval_and_explain(tmp_path):
    from xaicli.tracking.tensorboard import read_images, read_scalars

    run = tmp_path / "clf"
    xai("train", SMOKE, "train.loggers=[tensorboard]", "train.log_every=1", "--run-dir", run, check=True)
    written = expected(run)
    assert len(written["step/loss"]) == 14 and len(written["epoch/val_acc"]) == 2
    assert read_scalars(run / "tb") == written
    xai("eval", run, check=True)
    xai("explain", run, "--method", "saliency", "-n", "2", check=True)
    evaluation = json.loads((run / "eval" / "metrics.json").read_text())
    scalars_now = read_scalars(run / "tb")
    assert scalars_now["eval/accuracy"] == [(2, evaluation["accuracy"])]
    images = read_images(run / "tb")
    assert images["eval/confusion_matrix"] == [(2, (run / "plots" / "confusion_matrix.png").read_bytes())]
    assert images["explain/001/grid"] == [(1, (run / "explain" / "001" / "grid.png").read_bytes())]
    refused = xai("export", run, "--to", "tensorboard")
    assert refused.returncode == 2 and "already holds TensorBoard events" in refused.stderr
    copy = tmp_path / "copy"
    assert xai("export", run, "--to", "tensorboard", "--out", copy, check=True).stdout.strip() == str(copy)
    assert read_scalars(copy) == scalars_now  # the replay equals the live log, evaluation included
    assert read_images(copy) == images


def test_gan_sample_grids_reach_tensorboard(tmp_path):
    from xaicli.tracking.tensorboard import read_images, read_scalars

    run = tmp_path / "gan"
    xai("train", SMOKE_GAN, "train.loggers=[tensorboard]", "--run-dir", run, check=True)
    assert read_scalars(run / "tb") == expected(run)
    assert read_images(run / "tb")["samples"] == [(e, (run / "samples" / f"epoch_{e:03d}.png").read_bytes())
                                                  for e in (1, 2)]


def test_export_replays_a_run_that_logged_nothing(smoke_run, tmp_path):
    import shutil

    from xaicli.tracking.tensorboard import read_scalars

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    assert cli("eval", run).exit_code == 0
    out = tmp_path / "tb"
    cli_out = cli("export", run, "--to", "tensorboard", "--out", out)
    assert cli_out.exit_code == 0, cli_out.output
    scalars_back = read_scalars(out)
    assert scalars_back == expected(run, evaluations=True) and "eval/accuracy" in scalars_back
    assert not (run / "tb").exists()


def test_mlflow_gets_the_same_values_and_the_config(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run = tmp_path / "clf"
    env = {"MLFLOW_TRACKING_URI": uri}
    xai("train", SMOKE, "train.loggers=[mlflow]", "--run-dir", run, env=env, check=True)
    record = json.loads((run / "tracking.json").read_text())["mlflow"]
    client = MlflowClient(uri)
    mlflow_run = client.get_run(record["run_id"])
    assert mlflow_run.info.status == "FINISHED" and mlflow_run.info.run_name == "clf"
    assert mlflow_run.data.params["optim.lr"] == "0.003" and mlflow_run.data.params["model.name"] == "fast_cnn"
    for tag, points in expected(run).items():
        history = sorted((m.step, m.value) for m in client.get_metric_history(record["run_id"], tag))
        assert history == sorted(points), tag
    xai("eval", run, env=env, check=True)
    accuracy = json.loads((run / "eval" / "metrics.json").read_text())["accuracy"]
    assert [m.value for m in client.get_metric_history(record["run_id"], "eval/accuracy")] == [accuracy]
    other = tmp_path / "other"
    xai("train", SMOKE, "--run-dir", other, check=True)
    exported = xai("export", other, "--to", "mlflow", env=env, check=True)
    assert exported.stdout.strip() == uri
    new_id = json.loads((other / "tracking.json").read_text())["mlflow"]["run_id"]
    assert client.get_run(new_id).info.status == "FINISHED"
    again = xai("export", other, "--to", "mlflow", env=env)
    assert again.returncode == 2 and f"already in MLflow as run {new_id}" in again.stderr


def test_a_tracker_that_breaks_mid_run_is_a_warning_and_the_run_is_whole(tmp_path, monkeypatch):
    from xaicli.tracking import tensorboard

    calls = {"n": 0}
    original = tensorboard.TensorBoardTracker.on_row

    def breaks(self, record):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("No space left on device")
        original(self, record)

    monkeypatch.setattr(tensorboard.TensorBoardTracker, "on_row", breaks)
    run = tmp_path / "clf"
    result = cli("train", SMOKE, "train.loggers=[tensorboard]", "--run-dir", run)
    assert result.exit_code == 0, result.output
    assert "tensorboard logger failed (OSError: No space left on device); the run goes on" in result.output
    assert calls["n"] == 3  # dropped after its failure
    meta = json.loads((run / "meta.json").read_text())
    assert meta["exit_code"] == 0 and len([r for r in read_rows(run / "metrics.jsonl") if r["kind"] == "epoch"]) == 2
