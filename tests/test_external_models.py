"""build_external: torchvision, timm and user-module sources, weights, heads, logits outputs (offline)."""

from __future__ import annotations

import sys

import pytest
import torch

from tests.external_helpers import NetworkBlocked, block_network, fake_hub_weights, write_user_module
from xaicli.errors import ConfigError, XaiError
from xaicli.models.external import build_external, parse_spec
from xaicli.models.external.heads import freeze_all_but

KEYS = {"resize", "crop", "mean", "std", "interpolation"}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    block_network(monkeypatch)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:  # each test imports its own user module afresh
        if name.startswith(("tinynet", "xai_user_")):
            del sys.modules[name]


def test_the_network_is_blocked():
    import socket

    with pytest.raises(NetworkBlocked):
        socket.create_connection(("localhost", 9))


@pytest.mark.parametrize("spec, head", [("torchvision:resnet18", "fc"),
                                        ("torchvision:mobilenet_v3_small", "classifier.3")])
def test_torchvision_random_weights_with_a_new_head(spec, head):
    ext = build_external(spec, "none", num_classes=10)
    assert ext.head == head
    assert ext.notes == [f"head {head} replaced: 1000 -> 10 classes"]
    assert not ext.model.training and not ext.pretrained
    assert set(ext.preprocess) == KEYS and len(ext.preprocess["mean"]) == 3 and len(ext.preprocess["std"]) == 3
    with torch.no_grad():
        assert ext.model(torch.rand(2, 3, 64, 64)).shape == (2, 10)


def test_enum_weights_come_from_the_torch_hub_cache(tmp_path):
    path, state = fake_hub_weights(tmp_path / "torch_home", "resnet18", "IMAGENET1K_V1", seed=3)
    ext = build_external("torchvision:resnet18", "IMAGENET1K_V1")
    assert ext.pretrained and ext.notes == []
    assert torch.equal(ext.model.state_dict()["conv1.weight"], state["conv1.weight"])
    assert len(ext.class_names) == 1000 and ext.class_names[0] == "tench"
    assert ext.preprocess == {"resize": 256, "crop": 224, "mean": [0.485, 0.456, 0.406],
                              "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"}
    default = build_external("torchvision:resnet18", "DEFAULT", num_classes=4)
    assert torch.equal(default.model.state_dict()["conv1.weight"], state["conv1.weight"])
    assert default.class_names is None and default.notes == ["head fc replaced: 1000 -> 4 classes"]


def test_missing_enum_weights_name_the_cache_folder_and_file(tmp_path):
    with pytest.raises(XaiError) as err:
        build_external("torchvision:resnet18", "IMAGENET1K_V1")
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints") in message
    assert "resnet18-f37072fd.pth" in message and "allow_download" in message


def test_allowed_download_goes_to_the_network():
    with pytest.raises(XaiError, match="cannot load"):  # the blocked socket, reported in one line
        build_external("torchvision:resnet18", "IMAGENET1K_V1", allow_download=True)


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="did you mean 'resnet18'"):
        build_external("torchvision:resnet81")
    with pytest.raises(ConfigError, match="IMAGENET1K_V1"):
        build_external("torchvision:resnet18", "IMAGENET9K")
    with pytest.raises(ConfigError, match="not a model source"):
        parse_spec("resnet18")


def test_a_state_dict_file_with_its_own_class_count(tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(0)
    user = resnet18(num_classes=7).eval()
    file = tmp_path / "mine.pth"
    torch.save(user.state_dict(), file)
    ext = build_external("torchvision:resnet18", str(file), num_classes=7)
    assert ext.notes == [] and ext.class_names is None and ext.pretrained
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ext.model(x), user(x))
    refit = build_external("torchvision:resnet18", str(file), num_classes=3)
    assert refit.notes == ["head fc replaced: 7 -> 3 classes"]
    assert torch.equal(refit.model.state_dict()["conv1.weight"], user.state_dict()["conv1.weight"])


def test_a_file_that_does_not_fit_is_one_line(tmp_path):
    file = tmp_path / "other.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, file)
    with pytest.raises(XaiError) as err:
        build_external("torchvision:resnet18", str(file))
    assert "\n" not in str(err.value) and "other.pt" in str(err.value) and "missing" in str(err.value)
    with pytest.raises(ConfigError, match="not found"):
        build_external("torchvision:resnet18", str(tmp_path / "absent.pth"))


def test_safetensors_file_and_the_missing_package(tmp_path, monkeypatch):
    from torchvision.models import resnet18

    pytest.importorskip("safetensors")
    from safetensors.torch import save_file

    user = resnet18(num_classes=2)
    file = tmp_path / "mine.safetensors"
    save_file(user.state_dict(), str(file))
    ext = build_external("torchvision:resnet18", str(file))
    assert torch.equal(ext.model.state_dict()["fc.weight"], user.state_dict()["fc.weight"])
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(XaiError, match="pip install safetensors"):
        build_external("torchvision:resnet18", str(file))


def test_user_module_next_to_the_config_with_args(tmp_path):
    module = write_user_module(tmp_path)
    ext = build_external("tinynet:make_net", args={"width": 4}, num_classes=6, code_dir=tmp_path)
    assert ext.source_file == str(module.resolve()) and len(ext.source_sha256) == 64
    assert ext.model.fc.in_features == 4 and ext.model.fc.out_features == 6 and ext.notes == []
    assert "tinynet" not in sys.path and str(tmp_path) not in sys.path
    by_path = build_external(f"{module}:make_fixed", num_classes=2)
    assert by_path.notes == ["head fc replaced: 5 -> 2 classes"]
    del sys.modules["tinynet"]
    with pytest.raises(ConfigError, match="cannot import 'tinynet'"):
        build_external("tinynet:make_net")  # not on the path without code_dir
    with pytest.raises(ConfigError, match="no callable 'nothing'"):
        build_external("tinynet:nothing", code_dir=tmp_path)


@pytest.mark.parametrize("output, note", [("dict", "outputs: using ['logits']"),
                                          ("object", "outputs: using .logits")])
def test_hugging_face_style_outputs_are_unwrapped(tmp_path, output, note):
    write_user_module(tmp_path)
    ext = build_external("tinynet:make_net", args={"output": output}, code_dir=tmp_path,
                         input_shape=(3, 16, 16))
    assert ext.notes == [note] and ext.head == "inner.fc"
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        out = ext.model(x)
        inner = ext.model.inner
        inner.output = "tensor"
        assert isinstance(out, torch.Tensor) and torch.equal(out, inner(x))


def test_freeze_keeps_only_the_head_trainable():
    ext = build_external("torchvision:resnet18", num_classes=5)
    trainable, total = freeze_all_but(ext.model, ext.head)
    assert trainable == 512 * 5 + 5 and total > 11_000_000
    assert [n for n, p in ext.model.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv3_small_050"])
def test_timm_models_with_pretrained_cfg_preprocessing(name, tmp_path):
    timm = pytest.importorskip("timm")
    ext = build_external(f"timm:{name}", num_classes=4)
    cfg = timm.create_model(name).pretrained_cfg
    assert ext.preprocess["crop"] == cfg["input_size"][-1] and ext.preprocess["mean"] == list(cfg["mean"])
    assert ext.notes == [f"head {cfg['classifier']} replaced: 1000 -> 4 classes"]
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert ext.model(x).shape == (2, 4)
    file = tmp_path / "timm.pth"
    torch.save(ext.model.state_dict(), file)
    again = build_external(f"timm:{name}", str(file), num_classes=4)
    with torch.no_grad():
        assert torch.equal(again.model(x), ext.model(x))


def test_timm_pretrained_weights_stay_offline():
    pytest.importorskip("timm")
    with pytest.raises(XaiError, match="not in the local cache"):
        build_external("timm:resnet18", "DEFAULT")
