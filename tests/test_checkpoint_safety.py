"""Crash-safe saves, failed saves, safe loading, and what a corrupt or foreign checkpoint does."""

import errno
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, SMOKE, stop_in_epoch, xai

from xaicli.errors import XaiError
from xaicli.runs import checkpoint as ckptmod
from xaicli.runs import files as filesmod

SAVER = """
import sys, torch
from pathlib import Path
from xaicli.runs.checkpoint import save_checkpoint
p = Path(sys.argv[1])
states = [{"format_version": 1, "value": torch.full((300000,), float(i))} for i in (0, 1)]
print("ready", flush=True)
i = 0
while True:
    save_checkpoint(p, states[i % 2])
    i += 1
"""


@pytest.mark.e2e
def test_killing_during_saves_always_leaves_a_loadable_old_or_new_state(tmp_path):
    path = tmp_path / "last.pt"
    ckptmod.save_checkpoint(path, {"format_version": 1, "value": torch.full((300000,), 0.0)})
    rng = random.Random(0)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(10):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True,
                                cwd=ROOT, env=env)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = ckptmod.load_checkpoint(path)
        value = state["value"]
        assert value.shape == (300000,) and float(value[0]) in (0.0, 1.0)
        assert torch.equal(value, torch.full_like(value, float(value[0])))
    filesmod.clean_stale_temporaries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


@pytest.mark.parametrize("failure", [
    OSError(errno.ENOSPC, "No space left on device"),
    PermissionError(errno.EACCES, "Permission denied"),
])
def test_a_failed_save_raises_one_line_and_keeps_the_old_checkpoint(tmp_path, monkeypatch, failure):
    path = tmp_path / "last.pt"
    ckptmod.save_checkpoint(path, {"format_version": 1, "value": torch.ones(3)})
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(filesmod.os, "fsync", broken)
    with pytest.raises(XaiError, match="could not save the checkpoint") as info:
        ckptmod.save_checkpoint(path, {"format_version": 1, "value": torch.zeros(3)})
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary left behind


@pytest.mark.e2e
def test_failed_save_during_training_exits_1_and_keeps_last_good(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from xaicli.cli import app

    calls = {"n": 0}
    real = ckptmod.atomic_write_bytes

    def flaky(path, data):
        if path.name == "last.pt":
            calls["n"] += 1
            if calls["n"] >= 2:  # the first epoch's save works, the second hits a full disk
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(ckptmod, "atomic_write_bytes", flaky)
    torch.set_num_threads(1)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(SMOKE), "--run-dir", str(run)])
    assert result.exit_code == 1
    assert "could not save the checkpoint" in result.output
    assert ckptmod.load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1


class Payload:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


@pytest.mark.e2e
def test_a_pickle_payload_is_refused_and_has_no_effect(smoke_run, tmp_path):
    sentinel = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "kind": "classifier", "x": Payload(sentinel)}, evil)
    proc = xai("eval", smoke_run, "--checkpoint", evil)
    assert proc.returncode == 1
    assert "refused to load" in proc.stderr and "posix.system" in proc.stderr
    assert str(evil) in proc.stderr and "Traceback" not in proc.stderr
    assert not sentinel.exists()


def _make_bad(kind, tmp_path, good):
    p = tmp_path / f"{kind}.pt"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "random":
        p.write_bytes(os.urandom(4096))
    elif kind == "directory":
        p.mkdir()
    return p


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["empty", "truncated", "random", "directory"])
def test_corrupt_checkpoints_exit_1_with_the_path(smoke_run, tmp_path, kind):
    bad = _make_bad(kind, tmp_path, smoke_run / "checkpoints" / "last.pt")
    proc = xai("eval", smoke_run, "--checkpoint", bad)
    assert proc.returncode == 1, proc.stderr
    assert "corrupt or incomplete" in proc.stderr and str(bad) in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_debug_flag_shows_the_traceback(smoke_run, tmp_path):
    bad = _make_bad("random", tmp_path, smoke_run / "checkpoints" / "last.pt")
    proc = xai("--debug", "eval", smoke_run, "--checkpoint", bad)
    assert proc.returncode == 1 and "Traceback" in proc.stderr


@pytest.mark.e2e
def test_a_checkpoint_of_another_shape_or_kind_is_caught_before_loading(smoke_run, tmp_path):
    other = tmp_path / "wide"
    xai("train", SMOKE, "model.args.width=12", "train.epochs=1", "--run-dir", other, check=True)
    proc = xai("eval", smoke_run, "--checkpoint", other / "checkpoints" / "last.pt")
    assert proc.returncode == 1
    assert "'width': 12" in proc.stderr and "'width': 8" in proc.stderr and "shape" in proc.stderr
    state = torch.load(smoke_run / "checkpoints" / "last.pt", weights_only=True)
    state["kind"], state["model_name"] = "gan", "mlp_gan"
    foreign = tmp_path / "gan.pt"
    torch.save(state, foreign)
    proc = xai("eval", smoke_run, "--checkpoint", foreign)
    assert proc.returncode == 1 and "holds a gan 'mlp_gan'" in proc.stderr and "classifier 'fast_cnn'" in proc.stderr


@pytest.mark.e2e
def test_stale_temporaries_are_ignored_and_cleaned_on_resume(tmp_path):
    """Inside checkpoints/ and outside it (meta, metrics, plots); a temporary whose writer still runs
    (an eval writing its plot right now) is left alone."""
    run = tmp_path / "run"
    assert stop_in_epoch(run).returncode == 143
    dead = 999999999  # no such process
    stale = [run / "checkpoints" / ".last.pt.abc123.tmp", run / f".meta.json.{dead}.abc.tmp",
             run / "plots" / f".training.png.{dead}.x.tmp", run / "metrics.csv.tmp",
             run / f".metrics.jsonl.{dead}.q.tmp"]
    live = run / "plots" / f".confusion_matrix.png.{os.getpid()}.y.tmp"
    for p in [*stale, live]:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"half a file")
    resumed = xai("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert [p for p in stale if p.exists()] == [] and live.exists()
    assert ckptmod.load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 3


@pytest.mark.e2e
def test_editing_the_saved_config_is_caught_on_resume(tmp_path):
    run = tmp_path / "run"
    xai("train", SMOKE, "train.epochs=1", "--run-dir", run, check=True)
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("epochs: 1", "epochs: 2"))
    proc = xai("train", "--resume", run)
    assert proc.returncode == 2 and "train.epochs" in proc.stderr


def test_package_has_no_unsafe_loading():
    pattern = re.compile(r"weights_only\s*=\s*False|pickle\.loads?\(|yaml\.load\(|yaml\.unsafe_load")
    offenders = [f"{p}:{i}" for p in Path(ROOT, "xaicli").rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


@pytest.mark.e2e
def test_tiny_checkpoints_of_format_1_keep_loading(tmp_path):
    """Fixture runs written by format version 1: later versions must keep reading them."""
    import shutil

    fixtures = sorted((ROOT / "tests" / "fixtures" / "v1").iterdir())
    assert fixtures
    for fixture in fixtures:
        run = tmp_path / fixture.name
        shutil.copytree(fixture, run)
        state = ckptmod.load_checkpoint(run / "checkpoints" / "last.pt")
        assert state["format_version"] == 1
        proc = xai("eval", run, "--json")
        assert proc.returncode == 0, proc.stderr


@pytest.mark.e2e
def test_a_classifier_checkpoint_is_refused_by_a_gan_run(tmp_path):
    import shutil

    run = tmp_path / "gan"
    shutil.copytree(ROOT / "tests" / "fixtures" / "v1" / "gan", run)
    classifier = ROOT / "tests" / "fixtures" / "v1" / "classifier" / "checkpoints" / "last.pt"
    proc = xai("eval", run, "--checkpoint", classifier)
    assert proc.returncode == 1
    assert "holds a classifier 'fast_cnn'" in proc.stderr and "builds a gan 'mlp_gan'" in proc.stderr
