"""Trackers without training: the rows they get are metrics.jsonl's, TensorBoard reads back what was written
exactly, a failing or missing tracker is a warning and the others go on."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from xaicli import config as cfgmod
from xaicli.runs.metrics_log import MetricsWriter, read_rows
from xaicli.tracking import Trackers, by_tag, metric_value, open_trackers, scalars
from xaicli.tracking.results import evaluation_images, evaluation_row, explanation_images

tensorboard = pytest.importorskip("tensorboard")


class Recorder:
    name = "recorder"

    def __init__(self, fail_at: int | None = None) -> None:
        self.rows: list[dict] = []
        self.images: list[tuple] = []
        self.closed: str | None = None
        self.fail_at = fail_at

    def on_row(self, record):
        if self.fail_at is not None and len(self.rows) == self.fail_at:
            raise OSError("disk full")
        self.rows.append(dict(record))

    def on_image(self, tag, png, step):
        self.images.append((tag, png.name, step))

    def close(self, status):
        self.closed = status


def test_scalars_name_and_place_each_value():
    assert scalars({"kind": "step", "epoch": 2, "step": 40, "lr": 0.1, "loss": 1.5}) == \
        (40, [("step/lr", 0.1), ("step/loss", 1.5)])
    assert scalars({"kind": "epoch", "epoch": 3, "val_acc": 0.9, "seconds": 2, "note": "x"}) == \
        (3, [("epoch/val_acc", 0.9), ("epoch/seconds", 2.0)])
    assert scalars({"kind": "eval", "epoch": 5, "accuracy": 0.8}) == (5, [("eval/accuracy", 0.8)])
    assert math.isnan(metric_value("nan")) and metric_value(True) is None and metric_value([1]) is None


def test_listeners_get_the_rows_as_written(tmp_path):
    recorder = Recorder()
    writer = MetricsWriter(tmp_path, [Trackers(tmp_path, [recorder])])
    writer.row("step", epoch=1, step=1, loss=float("nan"), lr=1e-3)
    writer.epoch(epoch=1, train_loss=0.1234567890123, val_acc=0.5)
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "epoch_001.png").write_bytes(b"png")
    writer.epoch_done(1)
    writer.close(143)
    assert recorder.rows == read_rows(tmp_path / "metrics.jsonl")
    assert recorder.images == [("samples", "epoch_001.png", 1)]
    assert recorder.closed == "interrupted"


def test_a_failing_tracker_is_one_warning_and_the_others_go_on(tmp_path, capsys):
    bad, good = Recorder(fail_at=1), Recorder()
    writer = MetricsWriter(tmp_path, [Trackers(tmp_path, [bad, good])])
    for step in range(1, 4):
        writer.row("step", epoch=1, step=step, loss=1.0)
    writer.close(0)
    err = capsys.readouterr().err
    assert err.count("warning: recorder logger failed (OSError: disk full)") == 1
    assert f"xai export {tmp_path} --to recorder" in err
    assert len(good.rows) == 3 and len(bad.rows) == 1 and good.closed == "finished" and bad.closed is None
    assert len(read_rows(tmp_path / "metrics.jsonl")) == 3  # the run directory has every row


def test_a_missing_package_is_a_warning(tmp_path, monkeypatch, capsys):
    import xaicli.tracking as tracking

    def missing(name, cfg, run_dir, **options):
        raise ImportError(f"No module named '{name}'")

    monkeypatch.setattr(tracking, "open_tracker", missing)
    cfg = cfgmod.load(None, ["train.loggers=[tensorboard, mlflow]"])
    trackers = open_trackers(cfg, tmp_path)
    assert not trackers
    err = capsys.readouterr().err
    assert "pip install 'xai[tensorboard]'" in err and "pip install 'xai[mlflow]'" in err


def test_unknown_logger_is_a_config_error():
    from xaicli.errors import ConfigError

    with pytest.raises(ConfigError, match=r"train.loggers: expected a list of tensorboard, mlflow, found "
                                          r"'tensorbord' \(did you mean 'tensorboard'\?\)"):
        cfgmod.load(None, ["train.loggers=[tensorbord]"])


def test_tensorboard_reads_back_exactly_what_was_written(tmp_path):
    """Double-precision scalars: values that float32 would round come back bit for bit."""
    from xaicli.tracking.tensorboard import open_tracker, read_images, read_scalars

    rows = [{"kind": "step", "epoch": 1, "step": s, "loss": 1 / 3 + s * 1e-12, "lr": 1e-3 * s} for s in range(1, 6)]
    rows += [{"kind": "epoch", "epoch": 1, "val_acc": 0.1 + 0.2, "seconds": 1.234567891, "big": 2 ** 60}]
    png = Path(__file__).parent / "fixtures" / "tiny.png"
    tracker = open_tracker(None, tmp_path)
    for row in rows:
        tracker.on_row(row)
    tracker.on_image("samples", png, 1)
    tracker.close("finished")
    assert read_scalars(tmp_path / "tb") == by_tag(rows)
    assert read_images(tmp_path / "tb") == {"samples": [(1, png.read_bytes())]}


def test_png_size_reads_the_header():
    from xaicli.tracking.tensorboard import png_size

    png = (Path(__file__).parent / "fixtures" / "tiny.png").read_bytes()
    assert png_size(png) == (3, 5, 1)
    with pytest.raises(ValueError):
        png_size(b"GIF89a")


def test_results_become_rows_and_images(tmp_path):
    metrics = {"epoch": 4, "accuracy": 0.9, "loss": 0.3, "images": 128, "split": "test", "per_class_accuracy": {},
               "confusion_matrix_png": str(tmp_path / "cm.png")}
    assert evaluation_row(metrics) == {"kind": "eval", "epoch": 4, "accuracy": 0.9, "loss": 0.3}
    assert evaluation_images(metrics) == [("eval/confusion_matrix", tmp_path / "cm.png", 4)]
    folder = tmp_path / "explain" / "002"
    (folder / "discriminator").mkdir(parents=True)
    (folder / "grid.png").write_bytes(b"")
    (folder / "discriminator" / "grid.png").write_bytes(b"")
    assert [(t, s) for t, _, s in explanation_images(folder)] == [("explain/002/discriminator/grid", 2),
                                                                  ("explain/002/grid", 2)]


def test_mlflow_params_are_the_flattened_config():
    pytest.importorskip("mlflow")
    from xaicli.tracking.mlflow import flat_params

    params = flat_params(cfgmod.to_dict(cfgmod.load(None, ["model.args={width: 8}", "train.loggers=[mlflow]"])))
    assert params["optim.lr"] == "0.001" and params["model.args"] == json.dumps({"width": 8})
    assert params["train.loggers"] == '["mlflow"]' and params["name"] == "run"
