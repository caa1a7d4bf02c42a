"""Which modules a forward pass calls, and the layer that class activation maps read.

The automatic layer (`explain.layer` empty, `layer=None`): the final spatial feature map is the output
of the last module call with a spatial output (grids.py: (N, C, H, W), a transformer's tokens
(N, P + H*W, C) or channels last (N, H, W, C), H x W > 1) that computes features and that the score
depends on: pooling, dropout, identity layers and views of an earlier output (a permute) only
resample, mask or pass a map on and are skipped (unless nothing else is spatial), and so is a map
whose positions get no gradient from the score (a vision transformer's last blocks, after which only
the class token reaches the head; a probe pass with gradients finds them). The layer is the last
module, at any depth, whose output is that same tensor and that runs once per forward pass: the
outermost block that produces the map, never an activation module reused within a block. For
torchvision's ResNet-18 that is `layer4` (its output is also that of `layer4.1` and of
`layer4.1.relu`, which runs twice); for a plain stack of layers, the activation after the last
convolution; for ViT-B/16, `encoder.layers.encoder_layer_11.ln_1` (the tokens the last attention
mixes into the class token: pytorch-grad-cam's advice for ViTs); for Swin-T, `norm`.

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
from xaicli.explain.core import eval_mode, hooks, refuse_scripted
from xaicli.explain.grids import Grid, grid_of
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
    """Per call: does its output come from a pooling, dropout or identity layer, or is it a view of an
    earlier output (a permute or reshape module)? A leaf's own type says; a block's output is that of
    the last leaf call that returned the same tensor (or its own)."""
    last_leaf: dict[tuple, Call] = {}
    storage: set[tuple] = set()
    flags = []
    for c in calls:
        view = (c.output.data_ptr(), c.output.numel()) in storage and _key(c.output) not in last_leaf
        storage.add((c.output.data_ptr(), c.output.numel()))
        if not list(c.module.children()):
            last_leaf[_key(c.output)] = c
        flags.append(view or isinstance(last_leaf.get(_key(c.output), c).module, PASS_THROUGH))
    return flags


def score_of(output: torch.Tensor) -> torch.Tensor:
    """One differentiable number from a probe pass: the top class's score (a sum over softmax outputs
    would have no gradient), or the sum of a model's single outputs."""
    if output.ndim == 2 and output.shape[1] > 1:
        return output.gather(1, output.argmax(1, keepdim=True)).sum()
    return output.float().sum()


def carries_gradient(model: nn.Module, example: torch.Tensor, calls: list[Call], grids: list) -> list[bool]:
    """Per call: does the score get a non-zero gradient from the positions of its spatial map? One
    forward and backward pass of example[:1] in eval mode, parameters frozen, the calls' outputs kept
    and a clone handed on (so later in-place ops leave them alone); hooks and modes restored after."""
    from xaicli.explain.core import parameters_frozen

    kept: dict[nn.Module, list[torch.Tensor]] = {c.module: [] for c in calls}

    def keep(module, _inp, out):
        if isinstance(out, torch.Tensor):
            kept[module].append(out)
            return out.clone()
        return None

    x = example[:1].detach().requires_grad_(True)
    with eval_mode(model), parameters_frozen(model), torch.enable_grad(), \
            hooks([lambda m=m: m.register_forward_hook(keep) for m in kept]):
        score = score_of(model(x))
        seen: Counter = Counter()
        outputs = []
        for c in calls:
            outputs.append(kept[c.module][seen[c.module]] if seen[c.module] < len(kept[c.module]) else None)
            seen[c.module] += 1
        wanted = [o for o in outputs if o is not None and o.requires_grad]
        grads = dict(zip(map(id, wanted), torch.autograd.grad(score, wanted, allow_unused=True), strict=True)) \
            if wanted and score.requires_grad else {}
    flags = []
    for out, grid in zip(outputs, grids, strict=True):
        g = grads.get(id(out)) if out is not None else None
        flags.append(g is not None and bool(grid.to_nchw(g).abs().sum() > 0))
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


def residual_stream(features: list[tuple[Call, Grid]]) -> list[tuple[Call, Grid]]:
    """A transformer's maps of the residual stream's shape only: after the last block whose tokens the
    score depends on, its next layer norm and its attention's query-key-value projection both get
    a gradient, and the map is the first (the block's input as the attention reads it), not the
    concatenated projections. Convolutional maps are kept as they are."""
    blocks = [c for c, g in features if g.kind == "tokens" and list(c.module.children())]
    if not features or features[-1][1].kind != "tokens" or not blocks:
        return features
    return [(c, g) for c, g in features if c.shape == blocks[-1].shape] or features


@dataclass(frozen=True)
class CamLayer:
    """The layer class activation maps read: its name, the module and where its output holds the map
    (None when it holds none: fine for Captum's layer methods, refused by Grad-CAM)."""

    name: str
    module: nn.Module
    grid: Grid | None


def find_cam_layer(model: nn.Module, example: torch.Tensor, layer: str | nn.Module | None = None,
                   allow_reused_layer: bool = False) -> CamLayer:
    """The layer that class activation maps read: `layer`, checked, or the automatic one (see the
    module's docstring)."""
    refuse_scripted(model, "reading a layer (Grad-CAM and the other class activation maps)")
    calls = module_calls(model, example)
    counts = Counter(c.module for c in calls)
    image = (example.shape[-2], example.shape[-1])
    if layer is not None and layer != "":
        name, module = named_layer(model, layer)
        if counts[module] == 0:
            raise ConfigError(f"layer '{name}' is not called by the model's forward pass (or returns no tensor)")
        if counts[module] > 1 and not allow_reused_layer:
            raise ConfigError(f"layer {_runs(name, counts[module])}: name a block that runs once, or pass "
                              "allow_reused_layer=True")
        return CamLayer(name, module, grid_of(next(c.shape for c in calls if c.module is module), image))
    grids = [grid_of(c.shape, image) for c in calls]
    spatial = [(c, g, passing) for c, g, passing in zip(calls, grids, passes_on(calls), strict=True) if g is not None]
    if not spatial:
        kinds = ", ".join(dict.fromkeys(type(c.module).__name__ for c in calls)) or "none"
        raise ConfigError("Grad-CAM needs a layer with a spatial output ((N, C, H, W), tokens of patches or "
                          f"channels last); this model has none (its layers: {kinds}). Use saliency, "
                          "integrated_gradients or occlusion instead.")
    flowing = carries_gradient(model, example, [c for c, _, _ in spatial], [g for _, g, _ in spatial])
    spatial = [s for s, f in zip(spatial, flowing, strict=True) if f] or spatial
    features = residual_stream([(c, g) for c, g, passing in spatial if not passing])
    skip = PASS_THROUGH if features else ()  # a model whose only spatial layers are pools keeps them
    final, grid = (features or [(c, g) for c, g, _ in spatial])[-1]
    same = [c for c in calls if _key(c.output) == _key(final.output) and not isinstance(c.module, skip)]
    chosen = [c for c in same if allow_reused_layer or counts[c.module] == 1]
    if not chosen:
        raise ConfigError(f"the final feature map comes from {_runs(final.name, counts[final.module])}: name a "
                          "layer that runs once (explain.layer, layer=...), or pass allow_reused_layer=True")
    return CamLayer(chosen[-1].name, chosen[-1].module, grid)


def cam_layer(model: nn.Module, example: torch.Tensor, layer: str | nn.Module | None = None,
              allow_reused_layer: bool = False) -> tuple[str, nn.Module]:
    """(name, module) of the layer that class activation maps read (find_cam_layer)."""
    found = find_cam_layer(model, example, layer, allow_reused_layer)
    return found.name, found.module
