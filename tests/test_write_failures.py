"""A full disk between checkpoints (log, metrics, plots, samples, meta) or a closed standard error ends in a
saved checkpoint and a one-line error naming what could not be written; meta.json keeps the first error
and the exit code; what a stop lost is written on resume; stale temporaries outside checkpoints/ are
cleaned (tests/test_checkpoint_safety.py); a killed explain
or sample leaves no folder that looks finished."""

import errno
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ARGS, ROOT, SMOKE, SMOKE_GAN, cli, xai

from xaicli.runs import files as filesmod
from xaicli.runs.metrics_log import MetricsWriter

FULL = (errno.ENOSPC, "No space left on device")


def last(run):
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)


def meta(run):
    return json.loads((run / "meta.json").read_text())


def error_line(result):
    lines = [line for line in result.output.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output[-2000:]
    return lines[0]


def full_disk_on_row(monkeypatch, at: int):
    """The `at`-th row written to metrics.jsonl finds the disk full; returns the real writer."""
    real, calls = MetricsWriter.row, {"n": 0}

    def flaky(self, kind, **values):
        calls["n"] += 1
        if calls["n"] == at:
            raise OSError(*FULL, str(self.jsonl))
        return real(self, kind, **values)

    monkeypatch.setattr(MetricsWriter, "row", flaky)
    return real


@pytest.fixture
def one_thread():
    torch.set_num_threads(1)


def test_disk_full_on_metrics_saves_the_step_and_names_the_file(tmp_path, monkeypatch, one_thread):
    real = full_disk_on_row(monkeypatch, 5)
    run = tmp_path / "run"
    result = cli("train", SMOKE, "train.log_every=1", "--run-dir", run)
    assert result.exit_code == 1
    line = error_line(result)
    assert str(run / "metrics.jsonl") in line and "No space left" in line and f"--resume {run}" in line
    state = last(run)
    assert (state["epoch"], state["step_in_epoch"]) == (0, 5)  # the step where the write failed
    assert meta(run)["exit_code"] == 1 and "metrics.jsonl" in meta(run)["error"]
    monkeypatch.setattr(MetricsWriter, "row", real)
    reference = tmp_path / "reference"
    assert cli("train", SMOKE, "train.log_every=1", "--run-dir", reference).exit_code == 0
    resumed = cli("train", "--resume", run)
    assert resumed.exit_code == 0, resumed.output
    for k, t in last(reference)["models"]["model"].items():
        assert torch.equal(last(run)["models"]["model"][k], t), k


class FullAfter:
    """A log file whose writes fail once `lines` lines are written."""

    def __init__(self, fh, lines):
        self.fh, self.left = fh, lines

    def write(self, text):
        self.left -= 1
        if self.left < 0:
            raise OSError(*FULL)
        return self.fh.write(text)

    def __getattr__(self, name):
        return getattr(self.fh, name)


def test_disk_full_on_the_log_saves_a_checkpoint_and_names_the_log(tmp_path, monkeypatch, one_thread):
    real = filesmod.open_append
    monkeypatch.setattr(filesmod, "open_append", lambda path: FullAfter(real(path), 4) if path.name == "log.txt"
                        else real(path))
    run = tmp_path / "run"
    result = cli("train", SMOKE, "train.log_every=1", "--run-dir", run)
    assert result.exit_code == 1
    assert str(run / "log.txt") in error_line(result) and "checkpoint saved" in error_line(result)
    state = last(run)
    assert state["epoch"] == 0 and state["step_in_epoch"] > 0
    assert meta(run)["exit_code"] == 1 and "log.txt" in meta(run)["error"]


def test_disk_full_on_the_final_plot_is_an_error_and_meta_keeps_the_first_one(tmp_path, monkeypatch, one_thread):
    from xaicli.viz import plots

    def full(epochs, path, **kwargs):
        raise OSError(*FULL, str(path))

    monkeypatch.setattr(plots, "training_curves", full)
    run = tmp_path / "run"
    result = cli("train", SMOKE, "--run-dir", run)
    assert result.exit_code == 1
    assert str(run / "plots" / "training.png") in error_line(result)
    assert last(run)["epoch"] == 2 and meta(run)["exit_code"] == 1
    assert "training.png" in meta(run)["error"]
    # a run that already failed keeps its own error in meta.json, not the plot's
    full_disk_on_row(monkeypatch, 2)
    second = tmp_path / "second"
    result = cli("train", SMOKE, "--run-dir", second)
    assert result.exit_code == 1 and "metrics.jsonl" in error_line(result)
    assert "metrics.jsonl" in meta(second)["error"] and meta(second)["exit_code"] == 1


def test_a_lost_gan_grid_is_written_on_resume(tmp_path, monkeypatch, one_thread):
    from xaicli.tasks.gan import GanTask

    real = GanTask.on_epoch_end

    def full(self, epoch, run_dir):
        raise OSError(*FULL, str(run_dir / "samples" / f"epoch_{epoch + 1:03d}.png"))

    monkeypatch.setattr(GanTask, "on_epoch_end", full)
    run = tmp_path / "run"
    result = cli("train", SMOKE_GAN, "--run-dir", run)
    assert result.exit_code == 1 and "epoch_001.png" in error_line(result)
    assert (last(run)["epoch"], last(run)["step_in_epoch"]) == (1, 0)  # the epoch's checkpoint is saved
    monkeypatch.setattr(GanTask, "on_epoch_end", real)
    assert cli("train", "--resume", run).exit_code == 0
    reference = tmp_path / "reference"
    assert cli("train", SMOKE_GAN, "--run-dir", reference).exit_code == 0
    for name in ("epoch_001.png", "epoch_002.png"):
        assert (run / "samples" / name).read_bytes() == (reference / "samples" / name).read_bytes()


@pytest.mark.e2e
def test_a_closed_standard_error_saves_a_checkpoint_and_records_the_error(tmp_path):
    """xai train ... 2>&1 | head -2"""
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "xaicli", "train", str(SMOKE), *ARGS, "--run-dir", str(run)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = [proc.stdout.readline() for _ in range(2)]
    proc.stdout.close()  # head -2 exits
    assert proc.wait(timeout=120) == 1, first
    state = last(run)
    assert (state["epoch"], state["step_in_epoch"]) != (3, 0)  # stopped, not finished
    record = meta(run)
    assert record["exit_code"] == 1 and "standard error" in record["error"]
    assert "error: could not write to standard error" in (run / "log.txt").read_text().splitlines()[-1]
    resumed = xai("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr


def test_a_killed_sample_or_explain_leaves_no_numbered_folder(gan_runs, monkeypatch, tmp_path):
    import shutil

    from xaicli import sampling
    from xaicli.explain import command

    run = tmp_path / "gan"
    shutil.copytree(gan_runs["gan"], run)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # what a kill leaves: no cleanup runs after the write

    before = {p.name for p in (run / "samples").iterdir()} if (run / "samples").exists() else set()
    monkeypatch.setattr(sampling, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        sampling.run_sample(str(run), n=4)
    visible = {p.name for p in (run / "samples").iterdir() if not p.name.startswith(".")}
    assert visible == {n for n in before if not n.startswith(".")}
    monkeypatch.setattr(command, "write_report", killed)
    with pytest.raises(KeyboardInterrupt):
        command.run_explain(str(run), methods=["saliency"], n=2)
    explain = run / "explain"
    assert not explain.exists() or all(p.name.startswith(".") for p in explain.iterdir())
    monkeypatch.undo()
    done = sampling.run_sample(str(run), n=4)
    assert (run / "samples" / os.path.basename(done) / "manifest.json").is_file()
