"""Readers (eval, sample, explain) record and check what they used: the SHA-256 of the bytes loaded, a run
config that matches its checkpoints; eval works on a read-only run (--json, --out) and refuses NaN weights."""

import errno
import hashlib
import json
import shutil

import pytest
import torch
from conftest import cli

from xaicli.runs import files as filesmod
from xaicli.runs import restore as restore_mod


@pytest.fixture
def clf(smoke_run, tmp_path):
    torch.set_num_threads(1)
    run = tmp_path / "clf"
    shutil.copytree(smoke_run, run)
    return run


@pytest.fixture
def gan(gan_runs, tmp_path):
    torch.set_num_threads(1)
    run = tmp_path / "gan"
    shutil.copytree(gan_runs["gan"], run)
    return run


def replace_after_loading(monkeypatch, path):
    """A training run replaces the checkpoint right after this command has read it."""
    real = restore_mod.read_checkpoint
    original = path.read_bytes()

    def read_then_replace(*args, **kwargs):
        out = real(*args, **kwargs)
        state = torch.load(path, weights_only=True)
        state["epoch"] += 1
        torch.save(state, path)
        return out

    monkeypatch.setattr(restore_mod, "read_checkpoint", read_then_replace)
    return hashlib.sha256(original).hexdigest()


def test_the_explain_manifest_hashes_the_bytes_that_were_loaded(clf, monkeypatch):
    ckpt = clf / "checkpoints" / "last.pt"
    loaded = replace_after_loading(monkeypatch, ckpt)
    result = cli("explain", clf, "--method", "saliency", "-n", "2")
    assert result.exit_code == 0, result.output
    manifest = json.loads((clf / "explain" / "001" / "manifest.json").read_text())
    assert manifest["checkpoint_sha256"] == loaded != hashlib.sha256(ckpt.read_bytes()).hexdigest()


def test_the_sample_manifest_hashes_the_bytes_that_were_loaded(gan, monkeypatch):
    loaded = replace_after_loading(monkeypatch, gan / "checkpoints" / "last.pt")
    result = cli("sample", gan, "-n", "4")
    assert result.exit_code == 0, result.output
    manifest = json.loads((gan / "samples" / "001" / "manifest.json").read_text())
    assert manifest["checkpoint_sha256"] == loaded


EDITS = {"data.shift": ("shift: 0", "shift: 2"), "model.args": ("hidden: 32", "hidden: 32\n    dropout: 0.5"),
         "optim.lr": ("lr: 0.003", "lr: 0.03")}


@pytest.mark.parametrize("key", EDITS)
def test_a_hand_edited_run_config_is_refused_by_eval_and_explain(clf, key):
    config = clf / "config.yaml"
    old, new = EDITS[key]
    assert old in config.read_text()
    config.write_text(config.read_text().replace(old, new))
    for args in (["eval", clf], ["explain", clf, "--method", "saliency", "-n", "2"]):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert key in result.stderr and "config.yaml" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (clf / "explain").exists()


def test_sample_refuses_a_hand_edited_gan_config(gan):
    config = gan / "config.yaml"
    config.write_text(config.read_text().replace("seed: 0", "seed: 5", 1))
    result = cli("sample", gan, "-n", "2")
    assert result.exit_code == 2 and "seed" in result.stderr


def test_settings_of_the_reading_commands_may_be_edited(clf):
    config = clf / "config.yaml"
    text = config.read_text().replace("device: cpu", "device: auto").replace("ece_bins: 15", "ece_bins: 10")
    config.write_text(text)
    assert cli("eval", clf, "--json").exit_code == 0


@pytest.fixture
def read_only(monkeypatch, clf):
    """Every write inside the run fails as on a read-only mount (the tests run as root, so chmod is no use)."""
    real = filesmod.atomic_write_bytes

    def refuse(path, data):
        if str(clf) in str(path):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real(path, data)

    monkeypatch.setattr(filesmod, "atomic_write_bytes", refuse)
    return clf


def test_eval_json_works_on_a_read_only_run(read_only):
    before = sorted(p.relative_to(read_only) for p in read_only.rglob("*"))
    result = cli("eval", read_only, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accuracy"] >= 0
    assert "Read-only file system" in result.stderr and "printed only" in result.stderr
    assert sorted(p.relative_to(read_only) for p in read_only.rglob("*")) == before


def test_eval_on_a_read_only_run_without_json_says_what_to_do(read_only):
    result = cli("eval", read_only)
    assert result.exit_code == 1
    assert "--out" in result.stderr and "Read-only file system" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "OSError" not in result.stderr


def test_eval_out_writes_elsewhere(read_only, tmp_path):
    out = tmp_path / "results"
    result = cli("eval", read_only, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text()) == json.loads(result.stdout)
    assert (out / "confusion_matrix.png").stat().st_size > 1000
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("x")
    assert cli("eval", read_only, "--out", taken).exit_code == 2


def test_nan_weights_are_refused_by_eval(clf):
    path = clf / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=True)
    name = next(k for k, t in state["models"]["model"].items() if t.is_floating_point())
    state["models"]["model"][name] = torch.full_like(state["models"]["model"][name], float("nan"))
    torch.save(state, path)
    result = cli("eval", clf, "--json")
    assert result.exit_code == 1 and f"model.{name}" in result.stderr and "NaN" in result.stderr
    assert result.stdout == ""
