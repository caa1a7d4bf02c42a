"""Grad-CAM's layer: activations read before in-place ops change them, the automatic choice, a named
layer (did you mean), layers that run more than once per forward pass, and the layer reported."""

from __future__ import annotations

import pytest
import torch
from explain_helpers import assert_close_to_scale
from torch import nn

from xaicli.errors import ConfigError
from xaicli.explain.registry import resolve

captum_attr = pytest.importorskip("captum.attr")
TARGET = torch.tensor([0, 3, 1])


class InplaceNet(nn.Module):
    """conv -> ReLU(inplace) -> conv -> ReLU(inplace) -> pool -> linear: a layer's output is overwritten."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.relu2 = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(6 * 4 * 4, 5)

    def forward(self, x):
        return self.fc(self.pool(self.relu2(self.conv2(self.relu(self.conv(x))))).flatten(1))


def inplace_net() -> nn.Module:
    torch.manual_seed(0)
    return InplaceNet().eval()


def inputs(n: int = 3, size: tuple[int, int] = (12, 12)) -> torch.Tensor:
    return torch.randn(n, 1, *size, generator=torch.Generator().manual_seed(1))


def captum_gradcam(model, layer, x, t):
    cam = captum_attr.LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True)
    return captum_attr.LayerAttribution.interpolate(cam, x.shape[2:], interpolate_mode="bilinear").expand_as(x)


@pytest.mark.parametrize("layer", ["conv", "conv2"])
def test_gradcam_reads_the_layer_before_an_inplace_relu(layer):
    model, x = inplace_net(), inputs()
    ours = resolve("gradcam")(model, x, TARGET, layer=layer)
    assert_close_to_scale(ours, captum_gradcam(model, getattr(model, layer), x, TARGET))


def test_guided_gradcam_reads_the_layer_before_an_inplace_relu():
    model, x = inplace_net(), inputs()
    ours = resolve("guided_gradcam")(model, x, TARGET, layer="conv2")
    ref = captum_attr.GuidedGradCam(model, model.conv2).attribute(x, target=TARGET, interpolate_mode="bilinear")
    assert_close_to_scale(ours, ref)
    assert all(m.inplace for m in (model.relu, model.relu2))  # left as found


# ---- the automatic layer, a named layer, a layer that runs more than once ------------------------

def resnet18() -> nn.Module:
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=5).eval()


@pytest.fixture(scope="module")
def resnet():
    return resnet18(), inputs(2, (64, 64)).expand(-1, 3, -1, -1).contiguous()


def test_automatic_layer_of_resnet18_is_layer4(resnet):
    from xaicli.explain.layers import cam_layer

    model, x = resnet
    assert cam_layer(model, x)[0] == "layer4"
    ours = resolve("gradcam")(model, x, TARGET[:2])
    assert_close_to_scale(ours, captum_gradcam(model, model.layer4, x, TARGET[:2]))


class Small(nn.Module):
    """The shapes of small nets: the last spatial leaf is a pool, a dropout or an average pool."""

    def __init__(self, tail: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.act = nn.ReLU()
        self.tail = tail
        self.fc = nn.LazyLinear(5)

    def forward(self, x):
        return self.fc(self.tail(self.act(self.conv(x))).flatten(1))


@pytest.mark.parametrize("tail", [nn.MaxPool2d(2), nn.Dropout2d(0.3), nn.AvgPool2d(2),
                                  nn.Sequential(nn.MaxPool2d(2), nn.Dropout(0.5))])
def test_automatic_layer_skips_pooling_and_dropout(tail):
    from xaicli.explain.layers import cam_layer

    torch.manual_seed(0)
    model, x = Small(tail).eval(), inputs()
    model(x)  # materialise the lazy layer
    assert cam_layer(model, x)[0] == "act"
    assert_close_to_scale(resolve("gradcam")(model, x, TARGET), captum_gradcam(model, model.act, x, TARGET))


def test_a_named_layer_is_used_and_a_misspelt_one_gets_a_suggestion(resnet):
    model, x = resnet
    ours = resolve("gradcam")(model, x, TARGET[:2], layer="layer3.1")
    assert_close_to_scale(ours, captum_gradcam(model, model.layer3[1], x, TARGET[:2]))
    with pytest.raises(ConfigError, match=r"layer 'layer3\.1\.con1' .*did you mean 'layer3\.1\.conv1'"):
        resolve("gradcam")(model, x, TARGET[:2], layer="layer3.1.con1")


def test_a_layer_that_runs_twice_is_refused_unless_asked_for(resnet):
    model, x = resnet
    refusal = r"'layer4\.1\.relu', which runs 2 times per forward pass.*allow_reused_layer"
    with pytest.raises(ConfigError, match=refusal):
        resolve("gradcam")(model, x, TARGET[:2], layer="layer4.1.relu")
    out = resolve("gradcam")(model, x, TARGET[:2], layer="layer4.1.relu", allow_reused_layer=True)
    assert out.shape == x.shape and out.abs().max() > 0


def test_a_layer_the_forward_pass_never_calls_is_refused():
    model, x = inplace_net(), inputs()
    model.unused = nn.Conv2d(1, 1, 1)
    with pytest.raises(ConfigError, match="'unused' is not called"):
        resolve("gradcam")(model, x, TARGET, layer="unused")


def test_captum_layer_methods_use_the_same_layer(resnet):
    model, x = resnet
    ours = resolve("captum:LayerGradCam")(model, x, TARGET[:2])
    cam = captum_attr.LayerGradCam(model, model.layer4).attribute(x, target=TARGET[:2])  # no relu: Captum's default
    ref = captum_attr.LayerAttribution.interpolate(cam, x.shape[2:], interpolate_mode="bilinear").expand_as(x)
    assert_close_to_scale(ours, ref)
