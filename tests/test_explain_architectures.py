"""Explanations of real architectures (issue 14, point 4): torchvision's (and timm's, when installed)
classifiers with random weights at 64 x 64 on the CPU. Every native method runs; the automatic Grad-CAM
layer is the expected block, called once per forward pass; Grad-CAM, integrated gradients and saliency
match Captum within 1e-4 of the largest attribution. Captum's LayerGradCam reads (N, C, H, W) maps, so
for a transformer's tokens and Swin's channels-last maps the test puts its own reshaping modules after
the layer (written here, independently of xaicli.explain.grids) and gives Captum the grid they make."""

from __future__ import annotations

import copy
import functools
from collections import Counter

import pytest
import torch
from explain_helpers import assert_close_to_scale
from torch import nn

from xaicli.explain.layers import find_cam_layer, module_calls
from xaicli.explain.registry import METHODS, resolve

torchvision = pytest.importorskip("torchvision")
captum_attr = pytest.importorskip("captum.attr")
SIZE = 64
TARGET = torch.tensor([1, 3])

# name -> (constructor kwargs, the automatic layer, how Captum sees it: None for (N, C, H, W) maps,
# ("tokens", leading tokens, H, W) or ("nhwc",))
TORCHVISION = {
    "resnet18": ({}, "layer4", None),
    "mobilenet_v3_small": ({}, "features", None),
    "efficientnet_b0": ({}, "features", None),
    "convnext_tiny": ({}, "features", None),
    "regnet_y_400mf": ({}, "trunk_output", None),
    "vit_b_16": ({"image_size": SIZE}, "encoder.layers.encoder_layer_11.ln_1", ("tokens", 1, 4, 4)),
    "swin_t": ({}, "norm", ("nhwc",)),
}
TIMM = {
    "vit_tiny_patch16_224": ({"img_size": SIZE}, "blocks.11.norm1", ("tokens", 1, 4, 4)),
    "deit_tiny_distilled_patch16_224": ({"img_size": SIZE}, "blocks.11.norm1", ("tokens", 2, 4, 4)),
    "convnext_atto": ({}, "stages", None),
    "swin_tiny_patch4_window7_224": ({"img_size": SIZE, "window_size": 2}, "norm", ("nhwc",)),
}
SLOW = {"vit_b_16", "swin_t", "convnext_tiny", "swin_tiny_patch4_window7_224"}  # over a few seconds here
CASES = [pytest.param("torchvision", n, marks=[pytest.mark.e2e] if n in SLOW else []) for n in TORCHVISION] + \
        [pytest.param("timm", n, marks=[pytest.mark.e2e] if n in SLOW else []) for n in TIMM]
SMALL = {"n_steps": 4, "n_samples": 2, "window": 32, "stride": 32}


@functools.lru_cache(maxsize=2)
def model_of(source: str, name: str) -> nn.Module:
    """Random weights from a fixed seed; a classifier head initialised to zero (torchvision's ViT) gets
    small random weights, or every score would be constant and every map zero."""
    torch.manual_seed(0)
    if source == "timm":
        timm = pytest.importorskip("timm")
        model = timm.create_model(name, pretrained=False, num_classes=5, **TIMM[name][0])
    else:
        model = torchvision.models.get_model(name, weights=None, num_classes=5, **TORCHVISION[name][0])
    for m in model.modules():
        if isinstance(m, nn.Linear) and not m.weight.any():
            nn.init.normal_(m.weight, std=0.02)
    return model.eval()


def images(n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def expected(source: str, name: str) -> tuple:
    return (TIMM if source == "timm" else TORCHVISION)[name][1:]


@pytest.mark.parametrize("source,name", CASES)
def test_the_automatic_layer_is_the_expected_block_called_once(source, name):
    model, x = model_of(source, name), images()
    found = find_cam_layer(model, x)
    assert found.name == expected(source, name)[0]
    assert Counter(c.module for c in module_calls(model, x))[found.module] == 1


@pytest.mark.parametrize("source,name", CASES)
def test_every_native_method_runs(source, name):
    model, x = model_of(source, name), images()
    for method in METHODS.names():
        m = resolve(method)
        maps = m(model, x, TARGET, **m.accepts(SMALL))
        assert maps.shape == x.shape, method
        assert torch.isfinite(maps).all(), method
        assert maps.abs().sum() > 0, f"{method}: every map is zero"


class TokensToGrid(nn.Module):
    """(N, P + H*W, C) tokens -> (N, C, H, W) patches; the leading tokens wait for GridToTokens."""

    def __init__(self, prefix: int, height: int, width: int) -> None:
        super().__init__()
        self.prefix, self.height, self.width = prefix, height, width
        self.lead: torch.Tensor | None = None

    def forward(self, t):
        self.lead = t[:, :self.prefix]
        return t[:, self.prefix:].permute(0, 2, 1).reshape(len(t), t.shape[2], self.height, self.width)


class GridToTokens(nn.Module):
    def __init__(self, before: TokensToGrid) -> None:
        super().__init__()
        self.before = [before]  # a list: not a submodule

    def forward(self, g):
        return torch.cat([self.before[0].lead, g.flatten(2).permute(0, 2, 1)], 1)


class Permute(nn.Module):
    def __init__(self, *order: int) -> None:
        super().__init__()
        self.order = order

    def forward(self, t):
        return t.permute(*self.order)


def captum_view(model: nn.Module, layer: str, layout) -> tuple[nn.Module, nn.Module]:
    """(a copy of the model, the module whose output Captum reads as (N, C, H, W))."""
    if layout is None:
        return model, model.get_submodule(layer)
    model = copy.deepcopy(model)
    parent, _, child = layer.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    original = getattr(owner, child)
    if layout[0] == "tokens":
        to_grid = TokensToGrid(*layout[1:])
        setattr(owner, child, nn.Sequential(original, to_grid, GridToTokens(to_grid)))
    else:
        to_grid = Permute(0, 3, 1, 2)
        setattr(owner, child, nn.Sequential(original, to_grid, Permute(0, 2, 3, 1)))
    return model, to_grid


@pytest.mark.parametrize("source,name", CASES)
def test_gradcam_integrated_gradients_and_saliency_match_captum(source, name):
    model, x = model_of(source, name), images()
    layer, layout = expected(source, name)
    view, module = captum_view(model, layer, layout)
    cam = captum_attr.LayerGradCam(view, module).attribute(x, target=TARGET, relu_attributions=True)
    ref = captum_attr.LayerAttribution.interpolate(cam, x.shape[2:], interpolate_mode="bilinear").expand_as(x)
    assert_close_to_scale(resolve("gradcam")(model, x, TARGET), ref)
    ig = captum_attr.IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=TARGET,
                                                          n_steps=8, method="gausslegendre")
    assert_close_to_scale(resolve("integrated_gradients")(model, x, TARGET, n_steps=8), ig)
    sal = captum_attr.Saliency(model).attribute(x, target=TARGET, abs=True)
    assert_close_to_scale(resolve("saliency")(model, x, TARGET), sal)


# ---- TorchScript: no module hooks -----------------------------------------------------------------

@pytest.fixture(scope="module")
def scripted():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=5).eval()
    return model, torch.jit.trace(model, images())


@pytest.mark.parametrize("method", ["gradcam", "gradcam_pp", "guided_gradcam", "guided_backprop",
                                    "smoothgrad:gradcam", "captum:LayerGradCam", "captum:DeepLift"])
def test_methods_that_need_hooks_refuse_a_torchscript_model_in_one_line(scripted, method):
    from xaicli.errors import ConfigError

    with pytest.raises(ConfigError, match=r"needs module hooks, which TorchScript models do not support") as exc:
        resolve(method)(scripted[1], images(), TARGET)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "occlusion", "smoothgrad"])
def test_gradient_free_and_input_gradient_methods_run_on_a_torchscript_model(scripted, method):
    model, traced = scripted
    m = resolve(method)
    ours = m(traced, images(), TARGET, **m.accepts({**SMALL, "seed": 3}))
    assert_close_to_scale(ours, m(model, images(), TARGET, **m.accepts({**SMALL, "seed": 3})))


def test_the_pipeline_skips_hooked_methods_on_a_torchscript_model_and_refuses_them_by_name(scripted):
    from xaicli.errors import ConfigError
    from xaicli.explain.pipeline import Batch
    from xaicli.explain.selection import resolve_methods

    x = images()
    batch = Batch(scripted[1], x, x.numpy(), TARGET, [0, 1], ["a", "b"], fill=0.0)
    chosen, skipped = resolve_methods(["saliency", "gradcam", "guided_backprop", "occlusion"], False, batch)
    assert [m.name for m in chosen] == ["saliency", "occlusion"]
    assert set(skipped) == {"gradcam", "guided_backprop"} and "TorchScript" in skipped["gradcam"]
    with pytest.raises(ConfigError, match="--method gradcam: gradcam needs module hooks"):
        resolve_methods(["saliency", "gradcam"], True, batch)


# ---- layouts read from shapes ---------------------------------------------------------------------

@pytest.mark.parametrize("shape,image,kind,grid", [
    ((1, 512, 7, 7), (224, 224), "nchw", (7, 7, 0)),
    ((1, 7, 7, 768), (224, 224), "nhwc", (7, 7, 0)),
    ((1, 6, 9, 768), (192, 288), "nhwc", (6, 9, 0)),
    ((1, 197, 768), (224, 224), "tokens", (14, 14, 1)),
    ((1, 198, 192), (224, 224), "tokens", (14, 14, 2)),
    ((1, 196, 768), (224, 224), "tokens", (14, 14, 0)),
    ((1, 1 + 12 * 18, 384), (192, 288), "tokens", (12, 18, 1)),
    ((1, 6, 13, 17), (13, 17), "nchw", (13, 17, 0)),
])
def test_the_layout_is_read_from_the_shape_and_the_image_size(shape, image, kind, grid):
    from xaicli.explain.grids import grid_of

    found = grid_of(shape, image)
    assert (found.kind, found.height, found.width, found.prefix) == (kind, *grid)
    t = torch.randn(shape)
    assert found.to_nchw(t).shape[2:] == grid[:2]


@pytest.mark.parametrize("shape", [(1, 10), (1, 512, 1, 1), (1, 1, 768)])
def test_outputs_without_a_spatial_map_have_no_layout(shape):
    from xaicli.explain.grids import grid_of

    assert grid_of(shape, (224, 224)) is None
