"""Your own images end to end: train on a colour folder at 3 x 64 x 64, evaluate and explain with the
class names the run recorded, and resume a run that streams from the decoded cache exactly."""

import json
import signal

import pytest
import torch
from conftest import SMOKE, cli, start_training, wait_for_step_in_epoch, xai
from image_folders import write_colour_folder, write_digit_folder
from test_resume_and_signals import assert_same_training_state, final_state

pytestmark = pytest.mark.e2e

CLASSES = ("apple", "banana", "cherry")


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("photos")
    root = write_colour_folder(tmp / "photos", per_class=24, classes=CLASSES, splits=("train", "valid"))
    run = tmp / "run"
    result = cli("train", "configs/folder_example.yaml", f"data.root={root}", f"data.cache_dir={tmp / 'cache'}",
                 "data.image_size=64", "data.batch_size=16", "train.epochs=2", "train.device=cpu",
                 "model.args={width: 8, hidden: 32}", "--run-dir", run)
    assert result.exit_code == 0, result.output
    return run, root, tmp


def test_the_run_records_its_classes_and_data(photo_run):
    run, root, _ = photo_run
    assert json.loads((run / "classes.json").read_text()) == list(CLASSES)
    meta = json.loads((run / "meta.json").read_text())["data"]
    assert meta["dataset"] == "folder" and meta["image_size"] == 64 and meta["channels"] == 3
    assert meta["test_images"] == 72 and "valid (the only held-out folder: the test split)" in meta["splits"]["test"]
    assert len(meta["mean"]) == 3 and meta["stats"] == "computed from the training split"


def test_eval_and_explain_use_the_class_names(photo_run):
    run, _, _ = photo_run
    result = cli("eval", run, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert list(metrics["per_class_accuracy"]) == list(CLASSES) and metrics["images"] == 72
    table = cli("eval", run)
    assert all(f"accuracy[{name}]" in table.output for name in CLASSES)
    result = cli("explain", run, "--method", "saliency", "-n", "3")
    assert result.exit_code == 0, result.output
    folder = run / "explain" / "001"
    report = (folder / "report.html").read_text()
    assert all(f"label {name}" in report for name in CLASSES)
    assert (folder / "grid.png").is_file()


def test_changed_classes_are_refused_by_later_commands(photo_run):
    run, root, tmp = photo_run
    (root / "valid" / "cherry").rename(root / "valid" / "date")
    (root / "train" / "cherry").rename(root / "train" / "date")
    try:
        result = cli("eval", run)
        assert result.exit_code == 1
        assert "classes.json: the run was trained on 3 classes (apple, banana, cherry)" in result.output
        assert "now missing: cherry; new: date" in result.output
    finally:
        (root / "valid" / "date").rename(root / "valid" / "cherry")
        (root / "train" / "date").rename(root / "train" / "cherry")


def test_a_streamed_run_stopped_mid_epoch_resumes_exactly(tmp_path):
    root = write_digit_folder(tmp_path / "digits", n_train=1800, n_test=60)
    args = [f"data.root={root}", "data.name=folder", f"data.cache_dir={tmp_path / 'cache'}", "data.num_train=1600",
            "data.batch_size=8", "data.shift=1", "data.hflip=true", "data.random_resized_crop=0.5",
            "data.device_resident=false", "train.epochs=2", "train.log_every=1"]
    ref = tmp_path / "ref"
    xai("train", SMOKE, *args, "--run-dir", ref, check=True)
    meta = json.loads((ref / "meta.json").read_text())["data"]
    assert meta["batches"].startswith("streamed from the decoded cache")
    run = tmp_path / "run"
    proc = start_training(run, args=args)
    wait_for_step_in_epoch(run, 2, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    stopped = final_state(run)
    assert stopped["epoch"] == 1 and stopped["step_in_epoch"] > 0  # inside epoch 2
    resumed = xai("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_training_state(final_state(run), final_state(ref))
    assert torch.equal(final_state(run)["models"]["model"]["0.weight"], final_state(ref)["models"]["model"]["0.weight"])
