"""Explaining image files (issue 14, points 3 and 5): `xai explain --model SPEC --weights FILE --images ...` on
five real photographs (scikit-image's) of different sizes, offline, with random weights the test writes;
the folder is printed, the report shows each image, its top-5 classes and each method's map, and the
maps are drawn on the photos at their own resolution and in colour. `xai explain RUN --images ...` with a
trained run; targets by class name, an unknown one with a suggestion."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import cli
from external_helpers import block_network

pytestmark = pytest.mark.e2e
PHOTOS = {"astronaut": "jpg", "coffee": "jpg", "chelsea": "png", "rocket": "jpg", "camera": "png"}


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    data = pytest.importorskip("skimage.data")
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    for name, ext in PHOTOS.items():
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.{ext}")
    return folder


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    import torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "mobilenet.pt"
    torch.save(torchvision.models.get_model("mobilenet_v3_small", weights=None).state_dict(), path)
    return path


def test_one_shot_on_five_photographs_writes_a_report_with_images_top5_and_maps(photos, weights, tmp_path,
                                                                               monkeypatch):
    from PIL import Image

    block_network(monkeypatch)
    out = tmp_path / "explained"
    res = cli("explain", "--model", "torchvision:mobilenet_v3_small", "--weights", weights,
              "--images", photos / "astronaut.jpg", photos / "coffee.jpg", str(photos / "[cr]*.*"),
              "--method", "gradcam", "--method", "saliency", "--no-sanity", "--out", out)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().splitlines()[-1] == str(out)
    assert "class activation maps read layer 'features'" in res.output
    report = (out / "report.html").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["indices"]) == 5
    assert json.loads((out / "manifest.json").read_text())["run"] is None
    assert "model torchvision:mobilenet_v3_small without a run, weights" in report
    assert len((out / "predictions.csv").read_text().splitlines()) == 1 + 5
    for name in PHOTOS:
        assert f"{name}.{PHOTOS[name]}" in report
    top = re.findall(r"<ol>(.*?)</ol>", report)
    assert len(top) == 5 and all(t.count("<li>") == 5 for t in top)
    from torchvision.models import MobileNet_V3_Small_Weights

    categories = set(MobileNet_V3_Small_Weights.DEFAULT.meta["categories"])
    named = re.findall(r"<li>(.*?) <b>([0-9.]+)</b></li>", top[0])
    assert len(named) == 5 and all(n.replace("&#x27;", "'") in categories for n, _ in named)  # ImageNet's names
    assert [float(p) for _, p in named] == sorted((float(p) for _, p in named), reverse=True)
    for method in ("gradcam", "saliency"):
        assert f"<b>{method}</b>" in report
        for i, name in enumerate(["astronaut", "coffee", "camera", "chelsea", "rocket"]):
            drawn = np.asarray(Image.open(out / method / f"{i}.png").convert("RGB")).astype(int)
            with Image.open(photos / f"{name}.{PHOTOS[name]}") as im:
                assert drawn.shape[:2] == (im.height, im.width), (method, name)
            if name != "camera":  # a colour photo stays in colour, not grey
                assert np.abs(drawn[..., 0] - drawn[..., 2]).mean() > 5, (method, name)
    assert "grid.png" in report and (out / "grid.png").is_file()


def test_targets_by_class_name_and_an_unknown_name_gets_a_suggestion(photos, weights, tmp_path, monkeypatch):
    block_network(monkeypatch)
    base = ["explain", "--model", "torchvision:mobilenet_v3_small", "--weights", weights,
            "--images", photos / "chelsea.png", "--method", "saliency", "--no-sanity"]
    res = cli(*base, "--target", "tabby", "--out", tmp_path / "tabby")
    assert res.exit_code == 0, res.output
    labels = json.loads((tmp_path / "tabby" / "metrics.json").read_text())["labels"]
    assert labels["0"].endswith("target tabby") or "pred tabby" in labels["0"]
    res = cli(*base, "--target", "tabbby", "--out", tmp_path / "bad")
    assert res.exit_code == 2 and "did you mean 'tabby'" in res.output, res.output
    assert not (tmp_path / "bad" / "manifest.json").exists()


def test_a_trained_run_explains_the_users_image_files(smoke_run, photos, tmp_path):
    from PIL import Image

    res = cli("explain", smoke_run, "--images", photos / "chelsea.png", photos / "rocket.jpg",
              "--method", "saliency", "--method", "gradcam", "--no-sanity", "--out", tmp_path / "run_images")
    assert res.exit_code == 0, res.output
    out = tmp_path / "run_images"
    assert json.loads((out / "metrics.json").read_text())["images"] == 2
    with Image.open(out / "saliency" / "0.png") as im, Image.open(photos / "chelsea.png") as photo:
        assert im.size == photo.size
