"""A checkpoint saved inside an epoch carries the epoch's partial metric sums: the resumed epoch's row in
metrics.csv (and every step row) is the uninterrupted run's."""

import json

import pytest
import torch
from conftest import ARGS, SMOKE, stop_in_epoch, xai

from xaicli.training.meters import DeviceMeters


def test_meters_restored_from_a_snapshot_continue_the_same_sums():
    steps = [{"loss": torch.tensor(float(i) / 3), "correct": torch.tensor(float(i % 2)), "count": torch.tensor(4.0)}
             for i in range(10)]
    whole = DeviceMeters(torch.device("cpu"), 0)
    for out in steps:
        whole.add(out)
    first = DeviceMeters(torch.device("cpu"), 0)
    for out in steps[:4]:
        first.add(out)
    first.window_means()
    for out in steps[4:6]:
        first.add(out)
    snapshot = first.snapshot()
    resumed = DeviceMeters(torch.device("cpu"), 6)
    resumed.restore(snapshot)
    for out in steps[6:]:
        resumed.add(out)
    assert resumed.epoch_means() == whole.epoch_means()
    expected = DeviceMeters(torch.device("cpu"), 4)
    for out in steps[4:]:
        expected.add(out)
    assert resumed.window_means() == expected.window_means()  # the log window spans the resume too


def rows(run, kind):
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == kind]


def without_time(row):
    return {k: v for k, v in row.items() if k != "seconds"}


@pytest.mark.e2e
def test_a_mid_epoch_resume_writes_the_uninterrupted_epoch_metrics(tmp_path):
    reference = tmp_path / "reference"
    xai("train", SMOKE, *ARGS, "--run-dir", reference, check=True)
    run = tmp_path / "run"
    assert stop_in_epoch(run).returncode == 143
    saved = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert saved["step_in_epoch"] > 0 and saved["meters"]["keys"]
    resumed = xai("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert [without_time(r) for r in rows(run, "epoch")] == [without_time(r) for r in rows(reference, "epoch")]
    assert rows(run, "step") == rows(reference, "step")
    csv_ref = (reference / "metrics.csv").read_text().splitlines()
    csv_run = (run / "metrics.csv").read_text().splitlines()
    assert [line.rsplit(",", 1)[0] for line in csv_run] == [line.rsplit(",", 1)[0] for line in csv_ref]
