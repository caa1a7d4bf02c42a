"""Parity with Captum on a model unlike ours: a residual block (an in-place `+=`), in-place ReLUs, a
ReLU module called twice per forward pass, batch norm in eval mode with non-trivial statistics, odd
input sizes (13 x 17) and float64. Within 1e-4 of the largest attribution (float32) or 1e-6 (float64)."""

from __future__ import annotations

import copy

import pytest
import torch
from explain_helpers import assert_close_to_scale
from torch import nn

from xaicli.explain.layers import cam_layer
from xaicli.explain.registry import resolve

captum_attr = pytest.importorskip("captum.attr")
TARGET = torch.tensor([0, 3, 1])


class Block(nn.Module):
    """conv-bn-relu-conv-bn, plus the input in place, then the same ReLU module again."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        out += x
        return self.relu(out)


class ResidualNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem, self.bn, self.relu = nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(inplace=True)
        self.block = Block(6)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        return self.fc(self.pool(self.block(self.relu(self.bn(self.stem(x))))).flatten(1))


def residual_net(dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(0)
    model = ResidualNet()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # statistics and affine terms that are not the identity
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.normal_(m.weight, 1.0, 0.3)
            nn.init.normal_(m.bias, 0.0, 0.3)
    return model.eval().to(dtype)


def odd_inputs(dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(3, 1, 13, 17, generator=torch.Generator().manual_seed(1)).to(dtype)


def without_inplace(model: nn.Module) -> nn.Module:
    """A copy with in-place ReLUs turned off: the same function, for Captum's backward hooks."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return model


def _guided_gradcam_ref(model, x, t):
    plain = without_inplace(model)
    return captum_attr.GuidedGradCam(plain, plain.block).attribute(x, target=t, interpolate_mode="bilinear")


def _gradcam_ref(model, x, t):
    cam = captum_attr.LayerGradCam(model, model.block).attribute(x, target=t, relu_attributions=True)
    return captum_attr.LayerAttribution.interpolate(cam, x.shape[2:], interpolate_mode="bilinear")


CASES = {  # name -> (our params, Captum's result)
    "saliency": ({}, lambda m, x, t: captum_attr.Saliency(m).attribute(x, target=t)),
    "input_x_gradient": ({}, lambda m, x, t: captum_attr.InputXGradient(m).attribute(x, target=t)),
    "integrated_gradients": ({"n_steps": 16, "baseline": "zero"}, lambda m, x, t: captum_attr.IntegratedGradients(
        m).attribute(x, baselines=torch.zeros_like(x), target=t, n_steps=16, method="gausslegendre")),
    "guided_backprop": ({}, lambda m, x, t: captum_attr.GuidedBackprop(without_inplace(m)).attribute(x, target=t)),
    "gradcam": ({}, _gradcam_ref),
    "guided_gradcam": ({}, _guided_gradcam_ref),
    "occlusion": ({"window": 3, "stride": 2, "baseline": "zero"}, lambda m, x, t: captum_attr.Occlusion(m).attribute(
        x, sliding_window_shapes=(1, 3, 3), strides=(1, 2, 2), baselines=0.0, target=t)),
}


def test_the_automatic_layer_is_the_residual_block():
    model = residual_net(torch.float32)
    assert cam_layer(model, odd_inputs(torch.float32))[0] == "block"  # not block.relu, which runs twice


@pytest.mark.parametrize("dtype, rel", [(torch.float32, 1e-4), (torch.float64, 1e-6)], ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(CASES))
def test_parity_with_captum_on_a_residual_net_with_inplace_relus_and_batch_norm(name, dtype, rel):
    model, x = residual_net(dtype), odd_inputs(dtype)
    params, reference = CASES[name]
    ours = resolve(name)(model, x, TARGET, **params)
    ref = reference(model, x.clone(), TARGET).detach()
    assert ours.dtype == dtype
    assert_close_to_scale(ours, ref.expand_as(ours), rel)
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))  # left as found
