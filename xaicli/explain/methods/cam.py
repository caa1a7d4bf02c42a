"""Class activation maps: Grad-CAM (Selvaraju et al. 2017), Grad-CAM++ (Chattopadhay et al. 2018) and
guided Grad-CAM. The layer is a named one or the automatic one: see layers.py."""

from __future__ import annotations

import torch

from xaicli.errors import ConfigError
from xaicli.explain.chunks import chunk_size, run_chunked
from xaicli.explain.core import expand_target, hooks, input_layout, parameters_frozen, select, upsample
from xaicli.explain.grids import Grid
from xaicli.explain.layers import find_cam_layer
from xaicli.explain.methods.gradients import guided_gradients
from xaicli.explain.registry import register_method


def layer_activations_and_gradients(model, inputs, target, layer, grid: Grid | None = None, once: bool = False):
    """[(activations, d score / d activations)] of `layer` for one batch, one pair per call of the
    layer in the forward pass (a wrapper may call it once per class); the hook is removed after.

    The hook keeps the layer's output and hands a clone on to the rest of the model (as Captum does),
    so an in-place op after the layer (`nn.ReLU(inplace=True)`, a residual `+=`) changes the clone,
    not the activations kept here. With a `grid` (grids.py), both come back as (N, C, H, W): a
    transformer's tokens on their grid without the class token, channels-last maps permuted.

    `once` (the layer runs once per forward pass): the model runs without autograd up to the layer
    and records a graph only from the layer's output on, so the layers below keep no activations for a
    backward pass that never reaches them (pytorch-grad-cam and Captum record the whole forward)."""
    acts: list[torch.Tensor] = []

    def keep(_m, _i, out):
        if once:
            out = out.detach().requires_grad_(True)
            torch.set_grad_enabled(True)  # from here to the score; restored after the forward pass
        acts.append(out)
        return out.clone()

    x = input_layout(model, inputs.detach())
    x = x if once else x.requires_grad_(True)  # so the layer's output is in a graph
    with hooks([lambda: layer.register_forward_hook(keep)]), torch.set_grad_enabled(not once):
        out = model(x)
    with torch.enable_grad():
        score = select(out, target)
        grads = torch.autograd.grad(score.sum(), acts, allow_unused=True)
    pairs = [(a.detach(), torch.zeros_like(a) if g is None else g) for a, g in zip(acts, grads, strict=True)]
    return pairs if grid is None else [(grid.to_nchw(a), grid.to_nchw(g)) for a, g in pairs]


def _cam(model, inputs, target, layer, allow_reused_layer, weigh, budget_mb, chunk):
    """relu(sum_c w_c A_c) per image. When the layer runs several times (a conditional discriminator's
    logit per class, allowed by `allow_reused_layer`), each image's score depends on one call only;
    the other calls have zero gradient and so zero weights, and summing the calls' terms gives that
    call's map."""
    target = expand_target(target, len(inputs), inputs.device)
    with parameters_frozen(model):
        found = find_cam_layer(model, inputs, layer, allow_reused_layer)
        if found.grid is None:
            raise ConfigError(f"Grad-CAM's layer must output a spatial map ((N, C, H, W), tokens of patches or "
                              f"channels last); '{found.name}' gives none")
        size = chunk_size(model, inputs, budget_mb, chunk)
        parts: list[torch.Tensor] = []

        def compute(a, b):
            total = 0
            for act, grad in layer_activations_and_gradients(model, inputs[a:b], None if target is None else
                                                             target[a:b], found.module, found.grid,
                                                             once=not allow_reused_layer):
                total = total + (weigh(act, grad) * act).sum(1, keepdim=True)
            return torch.relu(total)

        run_chunked(len(inputs), size, compute, lambda a, b, cam: parts.append(cam))
    return torch.cat(parts)


def gradcam_weights(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    return grad.mean((2, 3), keepdim=True)


def gradcam_pp_weights(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ channel weights: sum over positions of alpha * relu(grad), with
    alpha = g^2 / (2 g^2 + sum(A) g^3) (the closed form for an exponential of the score)."""
    g2 = grad.pow(2)
    g3 = g2 * grad
    denom = 2 * g2 + act.sum((2, 3), keepdim=True) * g3
    alpha = torch.where(grad != 0, g2 / (denom + 1e-7), torch.zeros_like(grad))
    return (alpha * torch.relu(grad)).sum((2, 3), keepdim=True)


@register_method("gradcam", hooks=True, signed=False)
def gradcam(model, inputs, target=None, layer=None, allow_reused_layer: bool = False, interpolate: str = "bilinear",
            budget_mb=None, chunk=None):
    """relu(sum_c mean(d score / d A_c) A_c) at the layer (layers.cam_layer), upsampled to the input."""
    cam = _cam(model, inputs, target, layer, allow_reused_layer, gradcam_weights, budget_mb, chunk)
    return upsample(cam, inputs, interpolate)


@register_method("gradcam_pp", hooks=True, signed=False)
def gradcam_pp(model, inputs, target=None, layer=None, allow_reused_layer: bool = False,
               interpolate: str = "bilinear", budget_mb=None, chunk=None):
    cam = _cam(model, inputs, target, layer, allow_reused_layer, gradcam_pp_weights, budget_mb, chunk)
    return upsample(cam, inputs, interpolate)


@register_method("guided_gradcam", hooks=True, signed=True)
def guided_gradcam(model, inputs, target=None, layer=None, allow_reused_layer: bool = False,
                   interpolate: str = "bilinear", budget_mb=None, chunk=None):
    """Guided backpropagation times the upsampled Grad-CAM map."""
    cam = _cam(model, inputs, target, layer, allow_reused_layer, gradcam_weights, budget_mb, chunk)
    return guided_gradients(model, inputs, target, budget_mb, chunk) * upsample(cam, inputs, interpolate)
