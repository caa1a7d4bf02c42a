"""Baselines (references) for integrated gradients, GradientSHAP, occlusion and Captum's methods:
the "absent" input that an attribution is measured against."""

from __future__ import annotations

import math

import torch

from xaicli.errors import ConfigError
from xaicli.explain.core import generator_for
from xaicli.registry import did_you_mean

BASELINES = ("zero", "black", "mean", "blur", "uniform")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur per channel with reflected borders."""
    radius = max(1, int(math.ceil(3 * sigma)))
    radius = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    padded = torch.nn.functional.pad(x, (radius, radius, radius, radius), mode="reflect")
    out = torch.nn.functional.conv2d(padded, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return torch.nn.functional.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def input_bounds(inputs: torch.Tensor, input_range=None) -> tuple[float | torch.Tensor, float | torch.Tensor]:
    """(lowest, highest) input value: the data's range when given (the pipeline passes it), else each
    image's own, as (N, 1, ..., 1) tensors, never the batch's, so an image's map does not depend on
    the images beside it."""
    if input_range is not None:
        return float(input_range[0]), float(input_range[1])
    flat = inputs.detach().flatten(1)
    shape = (-1,) + (1,) * (inputs.ndim - 1)
    return flat.amin(1).view(shape), flat.amax(1).view(shape)


def make_baseline(inputs: torch.Tensor, baseline="zero", input_range=None, mean_image=None,
                  blur_sigma: float = 4.0, seed: int = 0) -> torch.Tensor:
    """A baseline per image: a tensor, or zero (in the model's input units), black (the lowest input
    value), mean (the data's mean image, else the batch's), blur (a Gaussian-blurred input) or uniform
    noise over the input range (input_bounds: the data's, else each image's)."""
    if isinstance(baseline, torch.Tensor):
        return baseline.to(inputs.device, inputs.dtype).expand_as(inputs)
    lo, hi = input_bounds(inputs, input_range)
    if baseline == "zero":
        return torch.zeros_like(inputs)
    if baseline == "black":
        return torch.zeros_like(inputs) + lo
    if baseline == "mean":
        ref = inputs.mean(0, keepdim=True) if mean_image is None else mean_image.to(inputs)
        return ref.reshape(1, *inputs.shape[1:]).expand_as(inputs)
    if baseline == "blur":
        return gaussian_blur(inputs, blur_sigma)
    if baseline == "uniform":
        g = generator_for(inputs.device, seed)
        u = torch.rand(inputs.shape, generator=g, device=inputs.device).to(inputs.dtype)  # float32 draws
        return lo + (hi - lo) * u
    raise ConfigError(f"baseline '{baseline}' unknown{did_you_mean(str(baseline), list(BASELINES))}; "
                      f"choose one of: {', '.join(BASELINES)}")
