"""Three splits: train (the optimizer), val (model selection: best.pt) and test (xai eval only)."""

import json

import pytest
import torch
from conftest import xai

from xaicli.data.base import ImageData, stratified_holdout


def test_stratified_holdout_takes_each_class_share_deterministically():
    labels = torch.arange(1000) % 10
    held = stratified_holdout(labels, 0.1, seed=0)
    assert torch.equal(held, stratified_holdout(labels, 0.1, seed=0))
    assert not torch.equal(held, stratified_holdout(labels, 0.1, seed=1))
    assert torch.bincount(labels[held], minlength=10).tolist() == [10] * 10
    assert torch.equal(held, held.unique())  # sorted, no index twice


def test_a_rare_class_keeps_an_image_in_validation_and_a_single_image_stays_in_training():
    labels = torch.tensor([0] * 50 + [1] * 3 + [2])
    held = stratified_holdout(labels, 0.1, seed=0)
    assert torch.bincount(labels[held], minlength=3).tolist() == [5, 1, 0]


def _data(n=200):
    x = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    y = torch.arange(n) % 4
    return ImageData(x, y, x[:10], y[:10], (0.5,), (0.5,), list("abcd"))


def test_validation_is_carved_from_training_and_disjoint_from_it():
    data = _data().with_validation(0.2, seed=3)
    train_ids = set(data.x_train[:, 0, 0, 0].tolist())
    val_ids = set(data.x_val[:, 0, 0, 0].tolist())
    assert len(val_ids) == 40 and len(train_ids) == 160 and not train_ids & val_ids
    assert data.provenance["val_images"] == 40 and data.split("val")[0] is data.x_val


def test_own_validation_split_is_kept_and_zero_means_none():
    data = _data()
    data.x_val, data.y_val = data.x_train[:7], data.y_train[:7]
    assert len(data.with_validation(0.5, seed=0).x_val) == 7
    none = _data().with_validation(0.0, seed=0)
    assert none.x_val is None and len(none.split("val")[1]) == 0 and len(none.x_train) == 200


@pytest.mark.e2e
def test_best_is_chosen_on_validation_and_eval_reports_test(smoke_run):
    meta = json.loads((smoke_run / "meta.json").read_text())
    assert meta["data"]["val_images"] == 26 and meta["data"]["train_images"] == 230  # smoke: 256 images
    epochs = [r for r in map(json.loads, (smoke_run / "metrics.jsonl").read_text().splitlines())
              if r["kind"] == "epoch"]
    val = json.loads(xai("eval", smoke_run, "--split", "val", "--json", check=True).stdout)
    test = json.loads(xai("eval", smoke_run, "--json", check=True).stdout)
    assert val["images"] == 26 and val["accuracy"] == pytest.approx(epochs[-1]["val_acc"], abs=1e-6)
    assert test["split"] == "test" and test["images"] == 128
