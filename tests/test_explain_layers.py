"""Grad-CAM's layer: activations read before in-place ops change them, the automatic choice, a named
layer (did you mean), layers that run more than once per forward pass, and the layer reported."""

from __future__ import annotations

import pytest
import torch
from explain_helpers import assert_close_to_scale
from torch import nn

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
