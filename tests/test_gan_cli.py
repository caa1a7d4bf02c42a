"""The command line end to end on synthetic data: xai train (GAN and classifier) -> xai sample -> xai eval."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import cli

from xaicli.runs.checkpoint import load_checkpoint

pytestmark = pytest.mark.e2e  # drives the real CLI: training runs in subprocesses



@pytest.fixture(scope="module")
def runs(gan_runs) -> dict[str, Path]:
    return gan_runs


def test_gan_training_writes_grids_metrics_and_only_last_pt(runs):
    gan = runs["gan"]
    assert (gan / "samples" / "epoch_001.png").is_file() and (gan / "samples" / "epoch_002.png").is_file()
    assert (gan / "checkpoints" / "last.pt").is_file()
    assert not (gan / "checkpoints" / "best.pt").exists()
    rows = [json.loads(line) for line in (gan / "metrics.jsonl").read_text().splitlines()]
    epoch = [r for r in rows if r["kind"] == "epoch"][-1]
    for key in ("train_loss_d", "train_loss_g", "train_d_real", "train_d_fake"):
        assert isinstance(epoch[key], float), key
    state = load_checkpoint(gan / "checkpoints" / "last.pt")
    assert state["kind"] == "gan" and state["gan_steps"] == 8  # 2 epochs x 128 / 32


def test_sample_same_seed_same_images_and_files(runs, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 5), (b, 5), (c, 6)):
        result = cli("sample", runs["gan"], "-n", 6, "--seed", seed, "--out", out)
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == str(out)
    images = {p: load_checkpoint(p / "samples.pt")["images"] for p in (a, b, c)}
    assert images[a].dtype == torch.uint8 and images[a].shape == (6, 1, 28, 28)
    assert torch.equal(images[a], images[b]) and not torch.equal(images[a], images[c])
    assert (a / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (a / "images").iterdir()) == [f"{i:06d}.png" for i in range(6)]
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["n"] == 6 and manifest["label"] is None
    assert manifest["run"] == str(runs["gan"]) and manifest["checkpoint"].endswith("last.pt")


def test_sample_default_folders_are_numbered_and_never_reused(runs):
    first, second = cli("sample", runs["gan"], "-n", 2), cli("sample", runs["gan"], "-n", 2)
    assert first.exit_code == 0 and second.exit_code == 0
    one, two = Path(first.stdout.strip()), Path(second.stdout.strip())
    assert one.parent == two.parent == runs["gan"] / "samples" and one != two
    assert one.name.isdigit() and int(two.name) == int(one.name) + 1
    assert (one / "manifest.json").is_file() and (two / "manifest.json").is_file()
    again = cli("sample", runs["gan"], "-n", 2, "--out", one)
    assert again.exit_code == 2 and "not an empty folder" in again.output


def test_sample_interpolation_is_a_grid_read_row_by_row(runs, tmp_path):
    from PIL import Image

    result = cli("sample", runs["gan"], "-n", 16, "--interpolate", "--out", tmp_path / "path")
    assert result.exit_code == 0, result.output
    images = load_checkpoint(tmp_path / "path" / "samples.pt")["images"]
    assert images.shape[0] == 16 and not torch.equal(images[0], images[-1])
    assert json.loads((tmp_path / "path" / "manifest.json").read_text())["interpolate"] is True
    side = 28 + 2  # image and gutter, drawn at scale 2
    assert Image.open(tmp_path / "path" / "grid.png").size == ((8 * side + 2) * 2, (2 * side + 2) * 2)


def test_epoch_grids_carry_their_epoch(runs):
    import numpy as np
    from PIL import Image

    grid = np.asarray(Image.open(runs["gan"] / "samples" / "epoch_001.png"))
    side = 28 + 2
    assert grid.shape[:2] == ((8 * side + 2) * 2 + 18, (8 * side + 2) * 2)  # an 18-pixel caption band on top
    assert grid[:18].max() > 200 and grid[:18].mean() < 40  # light text on black


def test_sample_usage_errors_exit_2(runs):
    label = cli("sample", runs["gan"], "--label", 3)
    assert label.exit_code == 2 and "not class-conditional" in label.output
    clf = cli("sample", runs["classifier"])
    assert clf.exit_code == 2 and "only GAN runs can be sampled" in clf.output and "cgan" in clf.output
    out_of_range = cli("sample", runs["cgan"], "--label", 10)
    assert out_of_range.exit_code == 2 and "0..9" in out_of_range.output


def test_conditional_sample_with_a_label(runs, tmp_path):
    result = cli("sample", runs["cgan"], "-n", 4, "--label", 3, "--out", tmp_path / "threes")
    assert result.exit_code == 0, result.output
    saved = load_checkpoint(tmp_path / "threes" / "samples.pt")
    assert saved["labels"].tolist() == [3, 3, 3, 3]
    assert json.loads((tmp_path / "threes" / "manifest.json").read_text())["label"] == 3


def test_eval_without_classifier_gives_discriminator_numbers_and_a_note(runs):
    result = cli("eval", runs["gan"], "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["kind"] == "gan" and metrics["images"] == 64
    assert 0 < metrics["p_real"] < 1 and 0 < metrics["p_fake"] < 1
    assert metrics["pixel_diversity"] > 0 and "--classifier" in metrics["note"]
    assert "fid" not in metrics
    assert json.loads((runs["gan"] / "eval" / "metrics.json").read_text()) == metrics


def test_eval_with_classifier_places_fid_between_floor_and_ceiling_numbers(runs):
    result = cli("eval", runs["gan"], "--classifier", runs["classifier"], "--json")
    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)
    for key in ("fid", "fid_floor", "fid_ceiling", "kid", "kid_floor", "kid_ceiling"):
        assert isinstance(m[key], float), key
    assert m["fid_floor"] < m["fid_ceiling"]  # real vs real is closer than an untrained generator
    assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1
    assert 1 <= m["classes_covered"] <= 10
    assert 0 <= m["class_entropy_ratio"] <= 1
    assert m["class_entropy_ratio"] == pytest.approx(m["class_entropy"] / math.log(10))
    assert sum(m["class_histogram"].values()) == pytest.approx(1.0, abs=1e-4)
    assert "note" not in m and "label_accuracy" not in m
    table = cli("eval", runs["gan"], "--classifier", runs["classifier"])
    assert table.exit_code == 0 and "fid_ceiling" in table.stdout


def test_eval_of_cgan_reports_label_accuracy_and_cas(runs):
    result = cli("eval", runs["cgan"], "--classifier", runs["classifier"], "--json")
    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)
    assert 0 <= m["label_accuracy"] <= 1 and set(m["per_class_accuracy"]) == {str(i) for i in range(10)}
    assert 0 <= m["cas"] <= 1
    assert m["cas_real"] > 0.5  # the same recipe on real synthetic images learns the easy classes


def test_eval_rejects_a_gan_as_the_classifier(runs):
    result = cli("eval", runs["gan"], "--classifier", runs["cgan"])
    assert result.exit_code == 2 and "expected a classifier run" in result.output


def test_discriminator_winning_every_time_is_warned_about():
    from types import SimpleNamespace

    from xaicli.tasks.gan import GanTask

    task = GanTask.__new__(GanTask)
    task.modules = {"gan": SimpleNamespace(loss="bce")}
    warnings = [task.health({"loss_d": 0.001}) for _ in range(GanTask.D_COLLAPSE_WINDOWS)]
    assert warnings[:-1] == [None] * (GanTask.D_COLLAPSE_WINDOWS - 1)
    assert "discriminator's loss has stayed below" in warnings[-1]
    assert task.health({"loss_d": 0.7}) is None  # a healthy window resets the count
