"""`xai explain` end to end: a classifier run through the real CLI, and GAN routing with a stand-in
GAN task that implements the interface the GAN task provides."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from xaicli.cli import app
from xaicli.errors import ConfigError

pytestmark = pytest.mark.e2e  # trains a run and drives `xai explain`

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def clf_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "clf"
    res = _invoke("train", str(ROOT / "configs" / "smoke_cnn.yaml"), "train.epochs=1", "explain.n_steps=8",
                  "explain.n_samples=4", "--run-dir", str(run))
    assert res.exit_code == 0, res.output
    return run


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_explain_classifier_writes_every_file(clf_run):
    methods = ["saliency", "integrated_gradients", "gradcam", "smoothgrad"]
    res = _invoke("explain", str(clf_run), *sum((["--method", m] for m in methods), []), "-n", "3")
    assert res.exit_code == 0, res.output
    out = Path(res.stdout.strip().splitlines()[-1])
    assert out == clf_run / "explain" / "001"
    for m in methods:
        assert len(list((out / m).glob("*.png"))) == 3, m
    for name in ("grid.png", "curves.png"):
        assert _is_png(out / name)
    with np.load(out / "attributions.npz") as npz:
        assert set(methods) <= set(npz.files)
        assert npz["saliency"].shape == (3, 1, 28, 28) and npz["images"].dtype == np.uint8
        assert np.isfinite(npz["integrated_gradients"]).all() and np.abs(npz["saliency"]).max() > 0
        indices = npz["indices"].tolist()
    assert len(set(indices)) == 3
    for m in methods:  # overlays are named by the image's index in the split
        assert sorted(p.name for p in (out / m).glob("*.png")) == sorted(f"{i}.png" for i in indices)
        assert all(_is_png(out / m / f"{i}.png") for i in indices)
    metrics = json.loads((out / "metrics.json").read_text())["methods"]
    assert list(metrics) == methods
    for m in metrics.values():
        assert 0 <= m["deletion_auc"] <= 1 and 0 <= m["insertion_auc"] <= 1
        assert m["randomization"]["verdict"] in ("pass", "fail", "undetermined")
        assert m["seconds"] > 0 and m["images_per_s"] > 0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [r["method"] for r in rows] == [*methods, "random"] and rows[0]["randomization_verdict"]  # + the reference
    manifest = json.loads((out / "manifest.json").read_text())
    ckpt = Path(manifest["checkpoint"])
    assert manifest["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert manifest["device"] == "cpu" and manifest["versions"]["torch"] == torch.__version__
    assert manifest["seeds"]["explain"] == 0 and manifest["config"]["model"]["name"] == "fast_cnn"
    assert manifest["explain"]["methods"] == methods and manifest["explain"]["n"] == 3
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 2 + 3 * len(methods)
    assert "http://" not in page and "https://" not in page and "src='/" not in page
    assert all(m in page for m in methods) and "Spearman" in page


def test_explain_never_overwrites_and_honours_out(clf_run, tmp_path):
    first = _invoke("explain", str(clf_run), "--method", "saliency", "-n", "2")
    second = _invoke("explain", str(clf_run), "--method", "saliency", "-n", "2")
    a, b = (Path(r.stdout.strip().splitlines()[-1]) for r in (first, second))
    assert a != b and a.parent == b.parent == clf_run / "explain" and a.is_dir() and b.is_dir()
    target = tmp_path / "mine"
    res = _invoke("explain", str(clf_run), "--method", "saliency", "-n", "2", "--out", str(target))
    assert res.exit_code == 0 and Path(res.stdout.strip().splitlines()[-1]) == target
    assert (target / "report.html").is_file()
    again = runner.invoke(app, ["explain", str(clf_run), "--method", "saliency", "--out", str(target)])
    assert again.exit_code == 2 and "never overwrites" in again.output


def test_explain_targets_label_and_fixed_class(clf_run, tmp_path):
    res = _invoke("explain", str(clf_run), "--method", "saliency", "-n", "4", "--target", "3",
                  "--out", str(tmp_path / "k"))
    assert res.exit_code == 0
    with np.load(tmp_path / "k" / "attributions.npz") as npz:
        assert npz["targets"].tolist() == [3, 3, 3, 3]
    res = _invoke("explain", str(clf_run), "--method", "saliency", "-n", "4", "--target", "label",
                  "--split", "train", "--out", str(tmp_path / "l"))
    assert res.exit_code == 0
    from xaicli.config import load
    from xaicli.data.registry import load_dataset

    y_train = load_dataset(load(clf_run / "config.yaml").data).y_train
    with np.load(tmp_path / "l" / "attributions.npz") as npz:
        assert npz["targets"].tolist() == y_train[npz["indices"]].tolist()
        assert len(set(npz["targets"].tolist())) > 1  # several classes, so a wrong index would show


@pytest.mark.parametrize("args, message", [
    (["--method", "salency"], "did you mean 'saliency'"),
    (["--target", "12"], "class 12 does not exist"),
    (["--inputs", "generated"], "only GAN runs"),
    (["--method", "captum:Nope"], "not a Captum"),
])
def test_explain_usage_errors_exit_2(clf_run, args, message):
    before = sorted((clf_run / "explain").glob("*"))
    res = runner.invoke(app, ["explain", str(clf_run), *args])
    assert res.exit_code == 2 and message in res.output
    assert sorted((clf_run / "explain").glob("*")) == before  # a refused request leaves no folder


def _run_with_explain_layer(clf_run: Path, tmp_path: Path, layer: str) -> Path:
    """A copy of the classifier run whose config names explain.layer."""
    import shutil

    import yaml

    run = tmp_path / "run"
    shutil.copytree(clf_run, run, ignore=shutil.ignore_patterns("explain"))
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["explain"]["layer"] = layer
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    return run


def test_the_grad_cam_layer_is_written_to_metrics_manifest_and_report(clf_run, tmp_path):
    from xaicli.explain.layers import AUTOMATIC

    res = _invoke("explain", str(clf_run), "--method", "gradcam", "--method", "saliency", "-n", "2",
                  "--out", str(tmp_path / "auto"))
    assert res.exit_code == 0, res.output
    out = tmp_path / "auto"
    expected = {"name": "12", "rule": AUTOMATIC}  # fast_cnn: the ReLU after its last convolution
    assert json.loads((out / "metrics.json").read_text())["layer"] == expected
    assert json.loads((out / "manifest.json").read_text())["sections"]["classifier"]["layer"] == expected
    assert "read layer <code>12</code>" in (out / "report.html").read_text()
    plain = _invoke("explain", str(clf_run), "--method", "saliency", "-n", "2", "--out", str(tmp_path / "plain"))
    assert plain.exit_code == 0 and "layer" not in json.loads((tmp_path / "plain" / "metrics.json").read_text())


def test_explain_layer_names_the_layer_and_a_misspelt_one_is_refused(clf_run, tmp_path):
    run = _run_with_explain_layer(clf_run, tmp_path, "9")
    res = _invoke("explain", str(run), "--method", "gradcam", "-n", "2")
    assert res.exit_code == 0, res.output
    out = Path(res.stdout.strip().splitlines()[-1])
    assert json.loads((out / "metrics.json").read_text())["layer"] == {"name": "9", "rule": "explain.layer"}
    bad = _run_with_explain_layer(clf_run, tmp_path / "bad", "conv9")
    res = runner.invoke(app, ["explain", str(bad), "--method", "gradcam", "-n", "2"])
    assert res.exit_code == 2 and "explain.layer: layer 'conv9' not in the model" in res.output
    assert not (bad / "explain").exists()  # refused before any folder was made
    flag = _invoke("explain", str(clf_run), "--method", "gradcam", "-n", "2", "--layer", "9",
                   "--out", str(tmp_path / "flag"))
    assert flag.exit_code == 0, flag.output
    assert json.loads((tmp_path / "flag" / "metrics.json").read_text())["layer"]["name"] == "9"


def test_list_methods_shows_the_registry():
    res = _invoke("list", "methods")
    from xaicli.explain.registry import METHODS

    assert res.stdout.split() == METHODS.names()


# ---- GAN runs, through a stand-in task with the GAN task's interface -----------------------------

class _G(nn.Module):
    def __init__(self, latent: int, conditional: bool) -> None:
        super().__init__()
        self.fc = nn.Linear(latent, 28 * 28)
        self.embed = nn.Embedding(10, latent) if conditional else None

    def forward(self, z, labels=None):
        if self.embed is not None:
            z = z + self.embed(labels)
        return torch.tanh(self.fc(z)).view(-1, 1, 28, 28)


class _D(nn.Module):
    def __init__(self, conditional: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5, stride=2)
        self.act = nn.LeakyReLU(0.2)
        self.fc = nn.Linear(4 * 12 * 12, 1)
        self.embed = nn.Embedding(10, 4 * 12 * 12) if conditional else None

    def forward(self, x, labels=None):
        h = self.act(self.conv(x)).flatten(1)
        out = self.fc(h)[:, 0]
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(1)
        return out


class StubGanTask:
    kind = "gan"

    def __init__(self, conditional: bool) -> None:
        torch.manual_seed(0)
        self.device = torch.device("cpu")
        self.latent_dim, self.num_classes, self.conditional = 6, 10, conditional
        self.generator, self.discriminator = _G(6, conditional).eval(), _D(conditional).eval()

    def generate(self, n, seed, labels=None):
        z = torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        return self.generator(z, labels) if self.conditional else self.generator(z)

    def to_model_input(self, x_uint8):
        return x_uint8.float() / 127.5 - 1

    def explain(self, restored, ecfg, new_folder, explicit, log):
        from xaicli.explain.gan import explain_gan

        return explain_gan(restored, ecfg, new_folder, explicit, log)


@pytest.fixture
def gan_restored(tmp_path, monkeypatch, clf_run):
    import xaicli.runs.restore as restore_mod
    from xaicli.config import load
    from xaicli.data.base import ImageData

    real_restore = restore_mod.restore

    def make(conditional: bool):
        run = tmp_path / ("cgan" if conditional else "gan")
        (run / "checkpoints").mkdir(parents=True)
        (run / "checkpoints" / "last.pt").write_bytes(b"stand-in weights")
        cfg = load(None, ["explain.n_steps=64", "explain.n=4", "explain.methods=[saliency, gradcam]"])
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, 256, (32, 1, 28, 28), generator=g, dtype=torch.uint8)
        y = torch.arange(32) % 10
        data = ImageData(x, y, x, y, (0.5,), (0.5,), [str(i) for i in range(10)])
        fake = SimpleNamespace(run_dir=run, checkpoint=run / "checkpoints" / "last.pt", cfg=cfg, data=data,
                               task=StubGanTask(conditional), state={}, sha256="0" * 64)

        def fake_restore(target, checkpoint=None, device=None, load_data=True, data_source=None):
            return fake if Path(target) == run else real_restore(target, checkpoint, device, load_data,
                                                                 data_source)

        monkeypatch.setattr(restore_mod, "restore", fake_restore)
        return run

    return make


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("inputs", ["real", "generated"])
def test_explain_gan_run_routes_to_discriminator_classifier_and_generator(gan_restored, clf_run, conditional,
                                                                          inputs):
    from xaicli.explain.command import run_explain

    run = gan_restored(conditional)
    out = run_explain(str(run), inputs=inputs, classifier=str(clf_run))
    assert out == run / "explain" / "001"
    for sub in (out, out / "generated_classifier"):
        for name in ("grid.png", "curves.png", "attributions.npz", "metrics.json", "metrics.csv"):
            assert (sub / name).is_file(), sub / name
        assert all(_is_png(sub / m / f"{i}.png") for m in ("saliency", "gradcam") for i in range(4))
    d_metrics = json.loads((out / "metrics.json").read_text())
    assert d_metrics["score"] == "sigmoid" and set(d_metrics["methods"]) == {"saliency", "gradcam"}
    with np.load(out / "generated_classifier" / "attributions.npz") as npz:
        assert npz["images"].shape == (4, 1, 28, 28)
    gen = json.loads((out / "generator" / "metrics.json").read_text())
    assert gen["completeness_error_max"] < 0.1 * gen["score_gap_mean_abs"] + 1e-3, gen
    assert all(_is_png(out / "generator" / f"{i}.png") for i in range(4))
    with np.load(out / "generator" / "latent_attributions.npz") as npz:
        assert npz["attributions"].shape == (4, 6) and np.abs(npz["attributions"]).max() > 0
    page = (out / "report.html").read_text()
    assert "discriminator" in page and "generator" in page and "https://" not in page
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "gan" and set(manifest["sections"]) == {"discriminator", "generated_classifier",
                                                                       "generator"}


def test_conditional_discriminator_target_picks_the_image_class():
    from xaicli.explain.targets import DiscriminatorLogit

    task = StubGanTask(conditional=True)
    x = task.generate(3, 0, labels=torch.tensor([1, 2, 3]))
    wrapped = DiscriminatorLogit(task.discriminator, True, 10)
    out = wrapped(x)
    expected = task.discriminator(x, torch.tensor([1, 2, 3]))
    torch.testing.assert_close(out[torch.arange(3), torch.tensor([1, 2, 3])], expected)


def test_gan_run_without_classifier_explains_the_discriminator_and_says_why_not_more(gan_restored):
    from xaicli.explain.command import run_explain

    run = gan_restored(False)
    out = run_explain(str(run))
    assert (out / "grid.png").is_file() and not (out / "generator").exists()
    assert "no classifier run given" in (out / "report.html").read_text()


@pytest.mark.parametrize("name", ["gradcam", "gradcam_pp", "saliency", "integrated_gradients"])
def test_conditional_discriminator_maps_equal_those_of_the_label_bound_model(name):
    """The (N, K) wrapper calls D once per class; each image's map must be that of its own class."""
    from xaicli.explain.registry import resolve
    from xaicli.explain.targets import DiscriminatorLogit

    task = StubGanTask(conditional=True)
    labels = torch.tensor([1, 2, 3])
    with torch.no_grad():
        x = task.generate(3, 0, labels=labels)

    class Bound(nn.Module):
        """D conditioned on one fixed class, whatever the batch size."""

        def __init__(self, label: int):
            super().__init__()
            self.d, self.label = task.discriminator, label

        def forward(self, images):
            return self.d(images, torch.full((len(images),), self.label)).view(-1, 1)

    method = resolve(name)
    params = method.accepts({"n_steps": 8, "chunk": 1000})
    wrapped = DiscriminatorLogit(task.discriminator, True, 10)
    if method.reads_layer:  # the wrapper calls D's layers once per class: CAMs must be told that is intended
        with pytest.raises(ConfigError, match="runs 10 times per forward pass"):
            method(wrapped, x, labels, **params)
        params["allow_reused_layer"] = True
    ours = method(wrapped, x, labels, **params)
    ref = torch.cat([method(Bound(int(k)), x[i:i + 1], 0, **params) for i, k in enumerate(labels)])
    assert ref.abs().max() > 0
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
