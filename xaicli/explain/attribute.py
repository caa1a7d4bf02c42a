"""The Python entry point: one call for any method, by the names `--method` takes.

    from xaicli.explain.attribute import attribute

    maps = attribute(model.eval(), images, target=labels, method="integrated_gradients", n_steps=32)
    maps = attribute(model, images, labels, method="smoothgrad:gradcam", layer="layer4", n_samples=8)
    maps = attribute(model, images, labels, method="captum:DeepLift", baseline="black")
"""

from __future__ import annotations

import torch
from torch import nn

from xaicli.explain.registry import resolve


def attribute(model: nn.Module, inputs: torch.Tensor, target=None, method: str = "saliency",
              **params) -> torch.Tensor:
    """Attributions of `model`'s `target` score for a batch of `inputs`, shaped like the inputs, on their
    device and in their dtype.

    target: a class index, a (N,) tensor of classes, or None for a model with one output per image.
    method: a registered name (`xai list methods`), `smoothgrad:<method>` (also smoothgrad_sq, vargrad)
    or `captum:<Name>`. params: the method's own (n_steps, baseline, layer, ...); an unknown one, or a
    target outside the model's classes, is a ConfigError. The model's mode is not changed: a model in
    training mode with batch norm or dropout is warned about (call model.eval() first), and its
    batch-norm statistics are put back afterwards.
    """
    return resolve(method)(model, inputs, target, **params)
