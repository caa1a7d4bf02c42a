"""External models through the real CLI: a user's plain-PyTorch state dict evaluates exactly as the user's own
loop does; enum weights from a temporary torch hub cache; a user module next to its config; train.freeze."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import ROOT, cli, xai
from tests.external_helpers import block_network, fake_hub_weights, write_user_module
from tests.image_folders import colour_image, save_image

pytestmark = pytest.mark.e2e

CLASSES = ("ant", "bee", "cow")
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def write_rgb_folder(root: Path, per_class: int, seed: int) -> None:
    """RGB PNGs of mixed, non-square sizes: train/<class>/ and test/<class>/."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for label, name in enumerate(CLASSES):
            for i in range(per_class):
                h, w = int(rng.integers(60, 120)), int(rng.integers(60, 120))
                save_image(colour_image(rng, label, h, w), root / split / name / f"{i:03d}.png")


def user_preprocess(path: Path) -> torch.Tensor:
    """The user's own pipeline, as torchvision's ImageNet recipe at 64 pixels: Resize(73), CenterCrop(64)."""
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms import v2

    t = v2.Compose([v2.Resize(73, antialias=True), v2.CenterCrop(64), v2.ToDtype(torch.float32, scale=True),
                    v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    return t(decode_image(str(path), mode=ImageReadMode.RGB))


def user_files(root: Path, split: str) -> list[tuple[Path, int]]:
    return [(p, label) for label, name in enumerate(CLASSES) for p in sorted((root / split / name).glob("*.png"))]


def user_trains_and_saves(root: Path, out: Path) -> dict[Path, int]:
    """Plain PyTorch: a few SGD steps of resnet18, torch.save(model.state_dict()); returns the user's
    own predictions on the test images."""
    from torchvision.models import resnet18

    torch.manual_seed(0)
    model = resnet18(num_classes=len(CLASSES))
    train = user_files(root, "train")
    x = torch.stack([user_preprocess(p) for p, _ in train])
    y = torch.tensor([label for _, label in train])
    for m in model.modules():  # running statistics averaged over every batch: a few steps give usable ones
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(8):
        idx = torch.randperm(len(x))[:12]
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.save(model.state_dict(), out)
    model.eval()
    with torch.no_grad():
        return {p: int(model(user_preprocess(p)[None]).argmax(1)) for p, _ in user_files(root, "test")}


def test_a_users_state_dict_evaluates_as_the_users_own_loop(tmp_path):
    root = tmp_path / "images"
    write_rgb_folder(root, per_class=8, seed=1)
    weights = tmp_path / "mine.pth"
    user_preds = user_trains_and_saves(root, weights)
    user_acc = np.mean([user_preds[p] == label for p, label in user_files(root, "test")])
    config = tmp_path / "import.yaml"
    config.write_text(yaml.safe_dump({
        "name": "imported", "data": {"name": "folder", "root": str(root), "image_size": 64, "val_split": 0.0,
                                     "cache_dir": str(tmp_path / "cache")},
        "model": {"name": "torchvision:resnet18", "weights": str(weights)},
        "train": {"epochs": 0, "device": "cpu", "runs_dir": str(tmp_path / "runs")}}))
    run = tmp_path / "run"
    proc = xai("train", config, "--run-dir", run, check=True)
    assert "data.resize 73" in proc.stderr and "data.mean [0.485, 0.456, 0.406]" in proc.stderr
    assert {p.name for p in (run / "checkpoints").iterdir()} >= {"last.pt", "best.pt"}
    assert json.loads((run / "classes.json").read_text()) == list(CLASSES)
    torch.load(run / "checkpoints" / "best.pt", weights_only=True)  # what restore does; raises if refused

    result = json.loads(xai("eval", run, "--json", check=True).stdout)
    assert result["accuracy"] == pytest.approx(user_acc, abs=1e-6)  # float32 of a count over 24 images

    from xaicli.data.folder import list_folder
    from xaicli.runs.restore import restore

    restored = restore(run)
    ours = restored.task.predict(restored.data.x_test, restored.data.y_test, 8).argmax(1).tolist()
    listed = [Path(p) for p, _ in list_folder(root).splits["test"]]
    assert dict(zip(listed, ours, strict=True)) == user_preds
    assert len(set(user_preds.values())) > 1  # the comparison is not between two constant classifiers


def test_enum_weights_from_the_hub_cache_then_an_offline_restore(tmp_path, monkeypatch):
    block_network(monkeypatch)
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    cached, state = fake_hub_weights(home, "mobilenet_v3_small", "IMAGENET1K_V1", seed=5)
    run = tmp_path / "run"
    result = cli("train", ROOT_SMOKE, "model.name=torchvision:mobilenet_v3_small", "model.weights=IMAGENET1K_V1",
                 "model.args={}", "data.channels=3", "data.image_size=32", "train.epochs=0", "--run-dir", run)
    assert result.exit_code == 0, result.output
    assert "head classifier.3 replaced: 1000 -> 10 classes" in result.output
    saved = cfg_of(run)
    assert saved["model"]["weights"] == "IMAGENET1K_V1" and saved["data"]["mean"] == IMAGENET_MEAN
    assert saved["data"]["resize"] == 36  # 32 * 256 / 224, the weights' border kept
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert torch.equal(ckpt["models"]["model"]["features.0.0.weight"], state["features.0.0.weight"])
    cached.unlink()  # restores never read the hub: the weights come from the run's checkpoint
    evaluated = cli("eval", run, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    explained = cli("explain", run, "--method", "saliency", "-n", "2")
    assert explained.exit_code == 0, explained.output
    assert (run / "explain").is_dir() and any((run / "explain").rglob("report.html"))
    missing = cli("train", ROOT_SMOKE, "model.name=torchvision:mobilenet_v3_small", "model.weights=IMAGENET1K_V1",
                  "model.args={}", "data.channels=3", "train.epochs=0", "--run-dir", tmp_path / "run2")
    assert missing.exit_code == 1 and "mobilenet_v3_small-047dcff4.pth" in missing.output
    assert str(home / "hub" / "checkpoints") in missing.output


def test_a_run_written_before_the_external_model_keys_resumes(tmp_path):
    """Checkpoints and config.yaml files of older runs lack data.resize, model.weights, model.allow_download,
    model.code_dir and train.freeze: they resume (and extend) as the runs they were."""
    run = tmp_path / "old"
    assert cli("train", ROOT_SMOKE, "train.epochs=1", "--run-dir", run).exit_code == 0
    new_keys = {"data": ["resize"], "model": ["weights", "allow_download", "code_dir"], "train": ["freeze"]}
    saved = yaml.safe_load((run / "config.yaml").read_text())
    for section, keys in new_keys.items():
        for key in keys:
            del saved[section][key]
    (run / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    for name in ("last.pt", "best.pt"):
        ckpt = torch.load(run / "checkpoints" / name, weights_only=True)
        for section, keys in new_keys.items():
            for key in keys:
                del ckpt["config"][section][key]
        torch.save(ckpt, run / "checkpoints" / name)
    resumed = cli("train", run / "config.yaml", "train.epochs=2", "--resume", run)
    assert resumed.exit_code == 0, resumed.output
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 2


def cfg_of(run: Path) -> dict:
    return yaml.safe_load((run / "config.yaml").read_text())


ROOT_SMOKE = ROOT / "configs" / "smoke_cnn.yaml"


def test_a_user_module_next_to_its_config(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    module = write_user_module(project)
    config = project / "mine.yaml"
    smoke = yaml.safe_load(ROOT_SMOKE.read_text())
    smoke["model"] = {"name": "tinynet:make_net", "args": {"width": 6, "output": "dict"}}
    smoke["data"].update(channels=3)
    smoke["train"].update(epochs=1, runs_dir=str(tmp_path / "runs"))
    config.write_text(yaml.safe_dump(smoke))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = tmp_path / "run"
    here = {"PYTHONPATH": str(ROOT)}  # this checkout's xai, from another working folder
    proc = xai("train", config, "--run-dir", run, cwd=elsewhere, env=here, check=True)
    assert "outputs: using ['logits']" in proc.stderr
    meta = json.loads((run / "meta.json").read_text())
    ext = meta["external_model"]
    assert ext["module_sha256"] == hashlib.sha256(module.read_bytes()).hexdigest()
    assert cfg_of(run)["model"]["code_dir"] == str(project.resolve())
    evaluated = xai("eval", run, "--json", cwd=tmp_path, env=here, check=True)
    assert 0.0 <= json.loads(evaluated.stdout)["accuracy"] <= 1.0
    assert "changed since" not in evaluated.stderr
    module.write_text(module.read_text() + "\n# edited after training\n")
    explained = xai("explain", run, "--method", "saliency", "-n", "2", cwd=tmp_path, env=here, check=True)
    assert "tinynet.py changed since the run was trained" in explained.stderr
    assert any((run / "explain").rglob("report.html"))


def test_freeze_trains_only_the_new_head(tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(0)
    start = resnet18(num_classes=4).state_dict()
    weights = tmp_path / "start.pt"
    torch.save(start, weights)
    run = tmp_path / "run"
    result = cli("train", ROOT_SMOKE, "model.name=torchvision:resnet18", f"model.weights={weights}",
                 "model.args={}", "data.channels=3", "data.image_size=32", "data.mean=[0.5]", "data.std=[0.25]",
                 "train.freeze=true", "train.epochs=1", "--run-dir", run)
    assert result.exit_code == 0, result.output
    assert "head fc replaced: 4 -> 10 classes" in result.output
    assert "train.freeze: 5,130 of 11,181,642 parameters train (the head fc)" in result.output
    model = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["models"]["model"]
    assert torch.equal(model["conv1.weight"], start["conv1.weight"])
    assert torch.equal(model["layer4.1.conv2.weight"], start["layer4.1.conv2.weight"])
    assert model["fc.weight"].shape == (10, 512)
    weights.unlink()  # a resume takes the weights from the run's checkpoint, not from the original file
    resumed = cli("train", ROOT_SMOKE, "model.name=torchvision:resnet18", f"model.weights={weights}",
                  "model.args={}", "data.channels=3", "data.image_size=32", "data.mean=[0.5]", "data.std=[0.25]",
                  "train.freeze=true", "train.epochs=2", "--resume", run)
    assert resumed.exit_code == 0, resumed.output
    again = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert again["epoch"] == 2 and torch.equal(again["models"]["model"]["conv1.weight"], start["conv1.weight"])
