"""Which modules a forward pass calls, and the layer that class activation maps read.

The automatic layer (`explain.layer` empty, `layer=None`): the final spatial feature map is the output
of the last module call with a spatial output (N, C, H, W), H x W > 1, that computes features:
pooling, dropout and identity layers only resample, mask or pass a map on and are skipped (unless
nothing else is spatial). The layer is the last module, at any depth, whose output is that same
tensor and that runs once per forward pass: the outermost block that produces the map, never an
activation module reused within a block. For torchvision's ResNet-18 that is `layer4` (its output
is also that of `layer4.1` and of `layer4.1.relu`, which runs twice); for a plain stack of layers,
the activation after the last convolution.

A named layer (a dotted module name) that runs more than once per forward pass is refused unless
`allow_reused_layer` is set: each call's activations would be mixed into one map. A conditional
discriminator's wrapper calls every layer once per class on purpose, and sets it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

from xaicli.errors import ConfigError
from xaicli.explain.core import eval_mode, hooks
from xaicli.registry import did_you_mean

PASS_THROUGH = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd,
                nn.modules.pooling._AdaptiveMaxPoolNd, nn.modules.pooling._LPPoolNd, nn.modules.dropout._DropoutNd,
                nn.Identity)
AUTOMATIC = "automatic: the last block producing the final spatial feature map, run once per forward pass"


@dataclass(frozen=True)
class Call:
    """One call of a module in a probe pass: its name, the module, its output and the output's shape."""

    name: str
    module: nn.Module
    output: torch.Tensor
    shape: tuple


def module_calls(model: nn.Module, example: torch.Tensor, leaves_only: bool = False) -> list[Call]:
    """Every call of a module with a tensor output in one forward pass of example[:1], in the order
    the calls end (a block ends after its children). The model itself is left out unless it is a
    leaf and `leaves_only` is set. The pass runs without gradients and in eval mode, so batch-norm
    statistics are not updated; every module's mode and the hooks are restored afterwards."""
    names = {m: n for n, m in model.named_modules()}
    if leaves_only:
        modules = [m for m in model.modules() if not list(m.children())]
    else:
        modules = [m for m in model.modules() if m is not model]
    calls: list[Call] = []

    def record(module, _inp, out):
        if isinstance(out, torch.Tensor):
            calls.append(Call(names.get(module, "?"), module, out, tuple(out.shape)))

    with eval_mode(model), hooks([lambda m=m: m.register_forward_hook(record) for m in modules]), torch.no_grad():
        model(example[:1])
    return calls


def is_spatial(shape: tuple) -> bool:
    return len(shape) == 4 and shape[2] * shape[3] > 1


def _key(t: torch.Tensor) -> tuple:
    """Outputs with one key are one tensor (in-place ops and containers return their input or child's)."""
    return t.data_ptr(), tuple(t.shape), t.stride()


def passes_on(calls: list[Call]) -> list[bool]:
    """Per call: does its output come from a pooling, dropout or identity layer? A leaf's own type says;
    a block's output is that of the last leaf call that returned the same tensor (or its own)."""
    last_leaf: dict[tuple, Call] = {}
    flags = []
    for c in calls:
        if not list(c.module.children()):
            last_leaf[_key(c.output)] = c
        flags.append(isinstance(last_leaf.get(_key(c.output), c).module, PASS_THROUGH))
    return flags


def _runs(name: str, n: int) -> str:
    return f"'{name}', which runs {n} times per forward pass (its calls' activations would be mixed into one map)"


def named_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """(name, module) for a dotted module name or a module of the model."""
    modules = dict(model.named_modules())
    if isinstance(layer, nn.Module):
        name = next((n for n, m in modules.items() if m is layer), None)
        if name is None:
            raise ConfigError("layer: the module given is not part of the model")
        return name, layer
    if layer not in modules:
        raise ConfigError(f"layer '{layer}' not in the model{did_you_mean(layer, list(modules))}")
    return layer, modules[layer]


def cam_layer(model: nn.Module, example: torch.Tensor, layer: str | nn.Module | None = None,
              allow_reused_layer: bool = False) -> tuple[str, nn.Module]:
    """(name, module) of the layer that class activation maps read: `layer`, checked, or the automatic
    one (see the module's docstring)."""
    calls = module_calls(model, example)
    counts = Counter(c.module for c in calls)
    if layer is not None and layer != "":
        name, module = named_layer(model, layer)
        if counts[module] == 0:
            raise ConfigError(f"layer '{name}' is not called by the model's forward pass (or returns no tensor)")
        if counts[module] > 1 and not allow_reused_layer:
            raise ConfigError(f"layer {_runs(name, counts[module])}: name a block that runs once, or pass "
                              "allow_reused_layer=True")
        return name, module
    spatial = [(c, passing) for c, passing in zip(calls, passes_on(calls), strict=True) if is_spatial(c.shape)]
    if not spatial:
        kinds = ", ".join(dict.fromkeys(type(c.module).__name__ for c in calls)) or "none"
        raise ConfigError("Grad-CAM needs a layer with spatial output (N, C, H, W); this model has none "
                          f"(its layers: {kinds}). Use saliency, integrated_gradients or occlusion instead.")
    features = [c for c, passing in spatial if not passing]
    skip = PASS_THROUGH if features else ()  # a model whose only spatial layers are pools keeps them
    final = (features or [c for c, _ in spatial])[-1]
    same = [c for c in calls if _key(c.output) == _key(final.output) and not isinstance(c.module, skip)]
    chosen = [c for c in same if allow_reused_layer or counts[c.module] == 1]
    if not chosen:
        raise ConfigError(f"the final feature map comes from {_runs(final.name, counts[final.module])}: name a "
                          "layer that runs once (explain.layer, layer=...), or pass allow_reused_layer=True")
    return chosen[-1].name, chosen[-1].module
