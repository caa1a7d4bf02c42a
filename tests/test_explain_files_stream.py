"""Many image files in one explanation (issue 14, point 6): every file is explained, block after block, and
the first explain.n are measured and shown. The blocks give the same maps as one pass over all files, and
resident memory does not grow with the number of files (the photos, views and maps of a block are let go
before the next block is read)."""

from __future__ import annotations

import csv
import gc
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from test_explain_memory import RecordsMemory, resident_bytes
from torch import nn

from xaicli.config.schema import ExplainConfig
from xaicli.explain import oneshot
from xaicli.explain.report import section_html

SIDE = 32


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()


def viewer() -> oneshot.Viewer:
    return oneshot.Viewer(3, SIDE, SIDE, "bilinear", lambda x: x.float() / 255 - 0.5)


def write_photos(folder, count: int, side: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, side)
    for i in range(count):
        base = np.stack([np.add.outer(ramp, ramp * (c + 1)) / (c + 2) for c in range(3)], axis=-1)
        noisy = base + rng.normal(0, 8, base.shape)
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(folder / f"img{i:04d}.png")


def explain(model, folder, out, n: int, methods=("saliency", "gradcam"), log=None):
    ecfg = ExplainConfig()
    ecfg.methods, ecfg.n, ecfg.measures, ecfg.sanity, ecfg.bootstrap = list(methods), n, ["sparseness"], False, 10

    def new_folder():
        out.mkdir()
        return out

    return oneshot.explain_files(model, ["a", "b", "c", "d"], viewer(), [str(folder)], ecfg, True, new_folder,
                                 log or (lambda line: None), "files")


def test_blocks_give_the_maps_of_one_pass_and_every_file_its_outputs(tmp_path, monkeypatch):
    write_photos(tmp_path / "photos", 11, 40)
    model = small_model()
    explain(model, tmp_path / "photos", tmp_path / "one", n=11)
    monkeypatch.setattr(oneshot, "BLOCK", 3)
    lines: list[str] = []
    blocks = explain(model, tmp_path / "photos", tmp_path / "blocks", n=2, log=lines.append)
    assert any("11 image files" in ln and "the first 2 measured" in ln for ln in lines)
    assert blocks["classifier"]["files"] == 11 and len(blocks["classifier"]["labels"]) == 2
    with np.load(tmp_path / "one" / "attributions.npz") as a, np.load(tmp_path / "blocks" / "attributions.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        np.testing.assert_array_equal(b["indices"], np.arange(11))
        np.testing.assert_array_equal(a["images"], b["images"])
        np.testing.assert_array_equal(a["targets"], b["targets"])
        for name in ("saliency", "gradcam"):
            assert b[name].shape == (11, 3, SIDE, SIDE)
            np.testing.assert_allclose(b[name], a[name], rtol=1e-4, atol=1e-6 * np.abs(a[name]).max())
    for name in ("saliency", "gradcam"):
        assert sorted(int(p.stem) for p in (tmp_path / "blocks" / name).glob("*.png")) == list(range(11))
    rows = list(csv.DictReader((tmp_path / "blocks" / "predictions.csv").open()))
    assert [int(r["index"]) for r in rows] == list(range(11))
    assert rows[10]["image"].endswith("img0010.png") and rows[0]["class1"] in "abcd"
    assert float(rows[0]["probability1"]) >= float(rows[0]["probability2"])
    metrics = json.loads((tmp_path / "blocks" / "metrics.json").read_text())
    assert metrics["images"] == 2 and metrics["indices"] == [0, 1]
    page = section_html(tmp_path / "blocks", "classifier", blocks["classifier"])
    assert page.count("title='saliency: ") == 2 and page.count("title='gradcam: ") == 2  # the shown ones only
    assert "11 image files explained: the first 2 are measured and shown here" in page
    assert not [p for p in (tmp_path / "blocks").iterdir() if p.name.startswith(".")]  # no raw parts left


@pytest.mark.e2e  # 160 photos read and drawn: about 40 s
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc (Linux)")
def test_resident_memory_does_not_grow_with_the_number_of_files(tmp_path, monkeypatch):
    """160 photos of 512 x 512: held together, their pictures alone take 126 MiB (the views and maps more);
    explained 16 at a time, memory at every forward pass stays within MARGIN of where it was after a short
    explanation of the same kind."""
    margin = 48 * 2**20
    write_photos(tmp_path / "warm", 4, 512)
    write_photos(tmp_path / "many", 160, 512)
    monkeypatch.setattr(oneshot, "BLOCK", 16)
    model = RecordsMemory(small_model()).eval()
    explain(model, tmp_path / "warm", tmp_path / "w", n=2, methods=("saliency",))
    gc.collect()
    before = resident_bytes()
    model.readings.clear()
    explain(model, tmp_path / "many", tmp_path / "m", n=2, methods=("saliency",))
    assert len(model.readings) >= 160 // 16
    growth = max(model.readings) - before
    assert growth <= margin, f"resident memory grew by {growth / 2**20:.0f} MiB over 160 files"
    with np.load(tmp_path / "m" / "attributions.npz") as npz:
        assert npz["saliency"].shape[0] == 160
