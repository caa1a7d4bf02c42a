"""Folder and CSV datasets: layouts and roles, class indices, the decode-once cache, bad files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from image_folders import digits, save_image, write_colour_folder, write_csv, write_digit_folder
from PIL import Image

from xaicli import config as cfgmod
from xaicli.data import cache as cachemod
from xaicli.data.csv_list import list_csv
from xaicli.data.folder import list_folder
from xaicli.data.registry import load_dataset
from xaicli.errors import XaiError


def data_cfg(root, cache, *extra):
    return cfgmod.load(None, [f"data.root={root}", f"data.cache_dir={cache}", "data.name=folder",
                              *extra]).data


def test_classes_and_files_equal_torchvision_imagefolder(tmp_path):
    from torchvision.datasets import ImageFolder

    root = write_colour_folder(tmp_path / "photos", per_class=5, classes=("zebra", "Ant", "cat", "bee"))
    ref = ImageFolder(str(root / "train"))
    (root / "train" / ".ipynb_checkpoints").mkdir()  # hidden folders are not classes (ImageFolder's would be)
    files = list_folder(root)
    assert files.classes == ref.classes == ["Ant", "bee", "cat", "zebra"]
    assert files.splits["train"] == [(p, i) for p, i in ref.samples]
    ref_test = ImageFolder(str(root / "test"))
    assert files.splits["test"] == [(p, i) for p, i in ref_test.samples]
    assert files.defects == []


@pytest.mark.parametrize("names,roles", [
    (("train", "val", "test"), {"train": "train", "val": "val", "test": "test"}),
    (("train", "valid"), {"train": "train", "test": "valid"}),
    (("train", "validation"), {"train": "train", "test": "validation"}),
    (("train", "test"), {"train": "train", "test": "test"}),
    (("train", "valid", "test"), {"train": "train", "val": "valid", "test": "test"}),
])
def test_split_folder_roles(tmp_path, names, roles):
    root = write_colour_folder(tmp_path / "d", per_class=2, classes=("a", "b"), splits=names)
    files = list_folder(root)
    assert {split: Path(entries[0][0]).parts[-3] for split, entries in files.splits.items()} == roles
    if "val" not in roles and roles.get("test") != "test":
        assert "the only held-out folder: the test split" in files.roles["test"]


def test_layout_errors_name_the_folder(tmp_path):
    root = write_colour_folder(tmp_path / "d", per_class=1, classes=("a",), splits=("val", "valid"))
    with pytest.raises(XaiError, match="val/ and valid/ are both val folders"):
        list_folder(root)
    (tmp_path / "e" / "test" / "a").mkdir(parents=True)
    with pytest.raises(XaiError, match="test/ but no train/ folder"):
        list_folder(tmp_path / "e")
    (tmp_path / "empty").mkdir()
    with pytest.raises(XaiError, match="no class folders"):
        list_folder(tmp_path / "empty")
    with pytest.raises(XaiError, match="not a folder"):
        list_folder(tmp_path / "missing")


def test_a_class_missing_or_extra_on_one_split_stops_training_naming_it(tmp_path):
    root = write_colour_folder(tmp_path / "d", per_class=3, classes=("cat", "dog"), splits=("train", "test"))
    (root / "test" / "dog").rename(root / "test" / "wolf")
    with pytest.raises(XaiError, match="class 'dog' has no images in the test split") as err:
        load_dataset(data_cfg(root, tmp_path / "c"))
    assert "1 more" in str(err.value)  # wolf is extra
    kinds = {d.kind for d in list_folder(root).defects}
    assert kinds == {"missing_class", "extra_class"}


def test_an_empty_class_folder_is_an_error_not_a_crash(tmp_path):
    root = write_colour_folder(tmp_path / "d", per_class=3, classes=("cat", "dog"), splits=("train",))
    (root / "train" / "eel").mkdir()
    with pytest.raises(XaiError, match=r"empty_class: .*train/eel: class 'eel' holds no image files"):
        load_dataset(data_cfg(root, tmp_path / "c"))


def test_single_folder_is_split_seeded_and_stratified(tmp_path):
    root = write_digit_folder(tmp_path / "flat", n_train=300, held=None)
    cfg = data_cfg(root, tmp_path / "c", "data.val_split=0.1", "data.test_split=0.2")
    a, b = load_dataset(cfg), load_dataset(cfg)
    assert len(a.y_test) == pytest.approx(60, abs=5) and len(a.y_val) == pytest.approx(24, abs=5)
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == 300
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_val, b.y_val)  # seeded
    assert set(a.y_test.tolist()) == set(range(10)) and set(a.y_val.tolist()) == set(range(10))  # stratified
    other = load_dataset(data_cfg(root, tmp_path / "c", "data.test_split=0.2", "data.split_seed=1"))
    assert not torch.equal(a.x_test, other.x_test)
    assert "0.2 of" in a.provenance["splits"]["test"]


def test_validation_carved_like_a_tensor_dataset_and_no_image_in_two_splits(tmp_path):
    """A folder written from tensors holds out the same validation images as ImageData.with_validation."""
    from xaicli.data.base import ImageData

    x, y = digits(200, "train")
    order = np.lexsort((np.arange(200), y))  # the folder lists class by class, in file-name order
    root = tmp_path / "d"
    for i in order:
        save_image(x[i], root / "train" / f"c{y[i]}" / f"{i:05d}.png", "L")
        save_image(x[i], root / "test" / f"c{y[i]}" / f"{i:05d}.png", "L")
    data = load_dataset(data_cfg(root, tmp_path / "c"))
    ref = ImageData(torch.from_numpy(x[order]).unsqueeze(1), torch.from_numpy(y[order].astype(np.int64)),
                    torch.zeros(0, 1, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.long), (0.0,), (1.0,),
                    [str(i) for i in range(10)]).with_validation(0.1, 0)
    assert torch.equal(data.x_val, ref.x_val) and torch.equal(data.y_val, ref.y_val)
    train_rows = {bytes(r.numpy()) for r in data.x_train}
    assert not train_rows & {bytes(r.numpy()) for r in data.x_val}


def test_cached_pixels_equal_torchvision_decode_resize_centercrop(tmp_path):
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms import CenterCrop, Resize

    root = write_colour_folder(tmp_path / "d", per_class=10, splits=("train", "test"))
    for channels, mode in ((3, ImageReadMode.RGB), (1, ImageReadMode.GRAY)):
        cfg = data_cfg(root, tmp_path / "c", "data.image_size=40", f"data.channels={channels}", "data.val_split=0")
        data = load_dataset(cfg)
        files = list_folder(root).splits["test"]
        assert len(files) == len(data.x_test) == 30
        worst = 0
        for (path, label), x, y in zip(files, data.x_test, data.y_test, strict=True):
            if path.endswith(".bmp"):  # torchvision has no BMP decoder: PIL's pixels are the reference
                im = Image.open(path).convert("RGB" if channels == 3 else "L")
                ref = torch.from_numpy(np.asarray(im).copy()).reshape(im.height, im.width, channels).permute(2, 0, 1)
            else:
                ref = decode_image(path, mode=mode)
                if ref.shape[0] != channels:  # WebP ignores the grayscale request
                    from torchvision.transforms.v2.functional import rgb_to_grayscale

                    ref = rgb_to_grayscale(ref)
            ref = CenterCrop(40)(Resize(40)(ref))
            worst = max(worst, int((x.int() - ref.int()).abs().max()))
            assert int(y) == label
        assert worst <= 1, f"{channels} channels: a cached pixel differs by {worst} grey levels"


def test_image_size_and_channels_default_to_the_first_training_image(tmp_path):
    root = write_digit_folder(tmp_path / "d", n_train=60, n_test=60)
    data = load_dataset(data_cfg(root, tmp_path / "c"))
    assert data.shape == (1, 28, 28) and data.provenance["channels"] == 1
    colour = write_colour_folder(tmp_path / "e", per_class=3)
    first = list_folder(colour).splits["train"]
    data = load_dataset(data_cfg(colour, tmp_path / "c", "data.image_size=0"))
    assert data.shape[0] in (1, 3) and data.shape[1] == data.shape[2]
    assert "first training image" in data.provenance["geometry"] and len(first) == 9


def test_cache_is_reused_and_keyed_by_the_files(tmp_path, monkeypatch):
    root = write_digit_folder(tmp_path / "d", n_train=80, n_test=60)
    cfg = data_cfg(root, tmp_path / "c", "data.val_split=0")
    first = load_dataset(cfg)
    assert len(list((tmp_path / "c").glob("*/images.npy"))) == 2
    calls = []
    real = cachemod.build
    monkeypatch.setattr(cachemod, "build", lambda *a, **k: calls.append(a) or real(*a, **k))
    again = load_dataset(cfg)
    assert calls == [] and torch.equal(first.x_train, again.x_train)
    victim = list_folder(root).splits["test"][0][0]
    img = np.asarray(Image.open(victim)).copy()
    img[:] = 255 - img
    Image.fromarray(img).save(victim)
    os.utime(victim, ns=(1, 10**18))
    changed = load_dataset(cfg)
    assert len(calls) == 1  # only the test split is decoded again
    assert torch.equal(changed.x_train, first.x_train) and not torch.equal(changed.x_test, first.x_test)
    load_dataset(data_cfg(root, tmp_path / "c", "data.val_split=0", "data.image_size=20"))
    assert len(calls) == 3  # another size: both splits


def test_a_failed_build_leaves_no_cache_and_the_next_one_succeeds(tmp_path, monkeypatch):
    root = write_digit_folder(tmp_path / "d", n_train=40, n_test=60)
    cfg = data_cfg(root, tmp_path / "c", "data.val_split=0")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cachemod, "decode_all", boom)
    with pytest.raises(KeyboardInterrupt):
        load_dataset(cfg)
    assert list((tmp_path / "c").glob("*/info.json")) == [] and list((tmp_path / "c").glob(".*.tmp-*")) == []
    monkeypatch.undo()
    assert len(load_dataset(cfg).x_train) == 40


@pytest.mark.e2e  # two Python processes
def test_two_processes_decode_once(tmp_path):
    root = write_digit_folder(tmp_path / "d", n_train=400, n_test=60)
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent.parent)!r})\n"
              "from xaicli import config as c\nfrom xaicli.data.registry import load_dataset\n"
              f"d = load_dataset(c.load(None, ['data.name=folder', 'data.root={root}', "
              f"'data.cache_dir={tmp_path / 'c'}', 'data.val_split=0', 'data.workers=1']).data)\n"
              "print(int(d.x_train.sum()))\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert outs[0][0] == outs[1][0]
    decoded = sum(err.count("decoding folder train split: 400 files") for _, err in outs)
    assert decoded == 1, [err for _, err in outs]
    assert len(list((tmp_path / "c").glob("*/info.json"))) == 2


def test_bad_files_stop_training_with_the_first_and_the_count_unless_skipped(tmp_path):
    root = write_digit_folder(tmp_path / "d", n_train=60, n_test=60)
    bad = sorted((root / "train").rglob("*.png"))[:3]
    for p in bad:
        p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(XaiError, match=r"3 image files cannot be decoded; the first: .*\.png \(png .*skip_bad: true"):
        load_dataset(data_cfg(root, tmp_path / "c"))
    data = load_dataset(data_cfg(root, tmp_path / "c", "data.skip_bad=true"))
    assert len(data.y_train) + len(data.y_val) == 57
    assert data.provenance["skipped"] == 3
    assert sorted(p for p, _ in data.provenance["skipped_files"]) == sorted(map(str, bad))


def test_csv_names_indices_relative_paths_and_split_column(tmp_path):
    root = write_digit_folder(tmp_path / "d", n_train=60, n_test=60, names=tuple("abcdefghij"))
    files = list_folder(root)
    rows = [(Path(p).relative_to(tmp_path), files.classes[lab], split)
            for split in ("train", "test") for p, lab in files.splits[split]]
    by_name = list_csv(write_csv(tmp_path / "list.csv", rows))
    assert by_name.classes == files.classes
    assert by_name.splits["train"] == files.splits["train"] and by_name.splits["test"] == files.splits["test"]
    indexed = list_csv(write_csv(tmp_path / "idx.csv", [(p, files.classes.index(c), s) for p, c, s in rows]))
    assert indexed.classes == [str(i) for i in range(10)] and indexed.labels("train") == files.labels("train")
    no_split = list_csv(write_csv(tmp_path / "all.csv", [(p, c) for p, c, _ in rows], header="path,label"))
    assert list(no_split.splits) == ["train"] and len(no_split.splits["train"]) == 120
    data = load_dataset(cfgmod.load(None, ["data.name=csv", f"data.root={tmp_path / 'list.csv'}",
                                           f"data.cache_dir={tmp_path / 'c'}"]).data)
    assert data.class_names == list("abcdefghij") and len(data.x_test) == 60


def test_csv_problems_are_named(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(XaiError, match="label missing"):
        list_csv(write_csv(tmp_path / "x.csv", [("a.png",)], header="path"))
    files = list_csv(write_csv(tmp_path / "y.csv", [("a.png", "cat", "train"), ("a.png", "dog", "holdout"),
                                                    ("a.png", "dog", "train")]))
    assert [d.kind for d in files.defects] == ["bad_row"] and "holdout" in files.defects[0].detail
    assert files.defects[0].path.endswith("y.csv:3")
    with pytest.raises(XaiError, match="not a file"):
        list_csv(tmp_path / "missing.csv")


def test_meta_records_statistics_and_given_ones_win(tmp_path):
    root = write_digit_folder(tmp_path / "d", n_train=60, n_test=60)
    data = load_dataset(data_cfg(root, tmp_path / "c", "data.val_split=0"))
    x = data.x_train.double() / 255
    assert data.mean[0] == pytest.approx(float(x.mean()), abs=1e-6)
    assert data.std[0] == pytest.approx(float(x.std()), abs=1e-3)
    assert data.provenance["mean"] == [round(data.mean[0], 6)]
    given = load_dataset(data_cfg(root, tmp_path / "c", "data.val_split=0", "data.mean=[0.5]", "data.std=[0.25]"))
    assert given.mean == (0.5,) and given.std == (0.25,) and given.provenance["stats"] == "data.mean, data.std"


def test_builtin_data_converted_to_image_size_and_channels():
    cfg = cfgmod.load(None, ["data.name=synthetic", "data.num_train=64", "data.num_test=16", "data.image_size=40",
                             "data.channels=3"]).data
    data = load_dataset(cfg)
    assert data.shape == (3, 40, 40) and len(data.mean) == 3
    assert torch.equal(data.x_train[:, 0], data.x_train[:, 2])  # grey replicated


def test_config_checks_the_new_keys():
    from xaicli.errors import ConfigError

    with pytest.raises(ConfigError, match="data.channels: expected one of 0, 1, 3"):
        cfgmod.load(None, ["data.channels=2"])
    with pytest.raises(ConfigError, match="data.std: expected 1 or 3 numbers"):
        cfgmod.load(None, ["data.std=[0.2, 0]"])
    with pytest.raises(ConfigError, match="data.random_resized_crop"):
        cfgmod.load(None, ["data.random_resized_crop=1.5"])
    assert json.loads(json.dumps(cfgmod.to_dict(cfgmod.load(None, ["data.mean=[0.5, 0.4, 0.3]"]))))


def test_eval_table_prints_class_names_verbatim():
    """Folder names such as 'cat' or 'bold' are not Rich markup: `accuracy[cat]` was printed as `accuracy`."""
    from rich.console import Console

    from xaicli.viz.tables import metrics_table

    console = Console(record=True, width=100)
    console.print(metrics_table({"model": "m", "run": "r", "per_class_accuracy": {"cat": 0.5, "bold": 1.0}}))
    text = console.export_text()
    assert "accuracy[cat]" in text and "accuracy[bold]" in text
