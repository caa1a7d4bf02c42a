"""The config side of external models: model.code_dir pinning, refusals before any data is loaded, the data
settings and class names taken from the weights' metadata (no weights are read)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from xaicli import config as cfgmod
from xaicli.errors import ConfigError
from xaicli.models import check_model_args, model_kind
from xaicli.models.external.metadata import adopt_class_names, fill_data_settings
from xaicli.training.preflight import check_training_request


def write(tmp_path: Path, model: dict, **sections) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"model": model, **sections}))
    return path


def test_a_module_model_is_imported_from_the_config_folder(tmp_path):
    cfg = cfgmod.load(write(tmp_path, {"name": "mynets:build"}))
    assert cfg.model.code_dir == str(tmp_path.resolve())
    kept = cfgmod.load(write(tmp_path, {"name": "mynets:build", "code_dir": "/opt/code"}))
    assert kept.model.code_dir == "/opt/code"
    assert cfgmod.load(write(tmp_path, {"name": "torchvision:resnet18"})).model.code_dir == ""
    again = cfgmod.load(write(tmp_path, {"name": "mynets:build"}))
    dumped = tmp_path / "run_config.yaml"
    dumped.write_text(cfgmod.dump(again))
    assert cfgmod.load(dumped, resolved=True).model.code_dir == str(tmp_path.resolve())


def test_external_names_are_classifiers_and_checked_before_data():
    assert model_kind("torchvision:resnet18") == "classifier"
    assert model_kind("timm:resnet18") == "classifier" and model_kind("pkg.mod:make") == "classifier"
    with pytest.raises(ConfigError, match="not a Python name"):
        model_kind("pkg.mod:make-it")
    with pytest.raises(ConfigError, match="takes no arguments"):
        check_model_args("torchvision:resnet18", {"width": 3})
    check_model_args("pkg.mod:make", {"width": 3})  # a user factory's arguments are its own


@pytest.mark.parametrize("override, key", [("train.freeze=true", "train.freeze"),
                                           ("model.weights=IMAGENET1K_V1", "model.weights")])
def test_external_settings_on_our_own_models_are_refused(override, key):
    cfg = cfgmod.load(None, ["model.name=fast_cnn", override])
    with pytest.raises(ConfigError, match=f"{key}: .* is for models from elsewhere"):
        check_training_request(cfg)


def test_enum_weights_fill_the_data_settings_the_config_leaves_empty():
    cfg = cfgmod.load(None, ["model.name=torchvision:resnet18", "model.weights=IMAGENET1K_V1"])
    notes = fill_data_settings(cfg)
    d = cfg.data
    assert (d.image_size, d.resize, d.channels) == (224, 256, 3)
    assert d.mean == [0.485, 0.456, 0.406] and d.std == [0.229, 0.224, 0.225]
    assert notes == ["data.image_size 224", "data.resize 256", "data.mean [0.485, 0.456, 0.406]",
                     "data.std [0.229, 0.224, 0.225]"]
    small = cfgmod.load(None, ["model.name=torchvision:resnet18", "model.weights=DEFAULT", "data.image_size=64",
                               "data.mean=[0.5]"])
    fill_data_settings(small)
    assert (small.data.image_size, small.data.resize, small.data.mean) == (64, 73, [0.5])


def test_random_weights_only_ask_for_colour():
    cfg = cfgmod.load(None, ["model.name=torchvision:resnet18"])
    assert fill_data_settings(cfg) == [] and cfg.data.channels == 3
    assert cfg.data.mean == [] and cfg.data.image_size == 0
    own = cfgmod.load(None, ["model.name=fast_cnn"])
    fill_data_settings(own)
    assert own.data.channels == 0


def test_a_timm_model_fills_from_its_pretrained_cfg():
    pytest.importorskip("timm")
    cfg = cfgmod.load(None, ["model.name=timm:resnet18", "model.weights=DEFAULT"])
    fill_data_settings(cfg)
    assert (cfg.data.image_size, cfg.data.resize) == (224, 235)


def test_index_only_class_names_take_the_weights_names():
    model = cfgmod.load(None, ["model.name=torchvision:resnet18", "model.weights=IMAGENET1K_V1"]).model
    indexed = SimpleNamespace(num_classes=1000, class_names=[str(i) for i in range(1000)])
    assert "1000 categories" in adopt_class_names(model, indexed)
    assert indexed.class_names[0] == "tench"
    named = SimpleNamespace(num_classes=1000, class_names=[f"c{i}" for i in range(1000)])
    assert adopt_class_names(model, named) is None and named.class_names[0] == "c0"
    fewer = SimpleNamespace(num_classes=10, class_names=[str(i) for i in range(10)])
    assert adopt_class_names(model, fewer) is None


def test_a_resize_smaller_than_the_crop_is_refused():
    from xaicli.data.registry import load_dataset

    cfg = cfgmod.load(None, ["data.name=synthetic", "data.image_size=32", "data.resize=16"]).data
    with pytest.raises(ConfigError, match="data.resize: 16 is smaller than data.image_size 32"):
        load_dataset(cfg)
