"""SmoothGrad (Smilkov et al. 2017) and its variants, wrapping any attribution method.

`smoothgrad` averages the base method's maps over noisy copies of the input, `smoothgrad_sq` averages
their squares, `vargrad` is their variance (Adebayo et al. 2018). The registered names wrap saliency;
`smoothgrad:<method>` (and the other two statistics) wrap any method by name.
"""

from __future__ import annotations

import torch

from xaicli.explain.baselines import input_bounds, make_baseline
from xaicli.explain.chunks import chunk_size, sum_per_image
from xaicli.explain.core import expand_target, generator_for
from xaicli.explain.methods.gradients import saliency
from xaicli.explain.registry import METHODS, Method, register_prefix, resolve

STATISTICS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def noise_draws(inputs: torch.Tensor, n_samples: int, stdev: float | torch.Tensor, seed: int) -> torch.Tensor:
    """Gaussian noise (N, n_samples, ...) from `seed`, with a standard deviation for all images or
    one per image ((N,))."""
    g = generator_for(inputs.device, seed)
    noise = torch.randn((len(inputs), n_samples, *inputs.shape[1:]), generator=g, device=inputs.device)
    noise = noise.to(inputs.dtype)  # drawn in float32 whatever the precision: the same draws in float64
    if isinstance(stdev, torch.Tensor):
        stdev = stdev.to(noise).view(-1, *[1] * (noise.ndim - 1))
    return noise * stdev


def noise_stdev(inputs: torch.Tensor, sigma: float, input_range=None) -> torch.Tensor:
    """(N,) noise levels: sigma x the input range (the SmoothGrad paper's convention): the data's range
    when given, else each image's own (baselines.input_bounds), never the batch's."""
    lo, hi = input_bounds(inputs, input_range)
    spread = torch.as_tensor(hi - lo, dtype=inputs.dtype, device=inputs.device).reshape(-1)
    return float(sigma) * spread.expand(len(inputs))


def noise_tunnel(model, inputs, target=None, *, statistic: str = "smoothgrad", base: Method = saliency,
                 n_samples: int = 10, sigma: float = 0.15, input_range=None, seed: int = 0,
                 budget_mb=None, chunk=None, **params):
    """The `statistic` of `base`'s maps over `n_samples` noisy copies of each input.

    A base method with a baseline gets each image's baseline built once from the clean image and
    repeated over its noisy copies (as Captum's NoiseTunnel does), not built from the noisy copies."""
    n = len(inputs)
    noise = noise_draws(inputs, n_samples, noise_stdev(inputs, sigma, input_range), seed)
    target_n = expand_target(target, n, inputs.device)
    inner = {**params, "input_range": input_range, "seed": seed, "budget_mb": budget_mb, "chunk": chunk}
    clean = None
    if "baseline" in base.parameters:
        clean = make_baseline(inputs, params.get("baseline", "zero"), input_range, params.get("mean_image"),
                              params.get("blur_sigma", 4.0), seed)
    size = chunk_size(model, inputs, budget_mb, chunk)
    size = max(1, size // max(1, base.passes(inner, tuple(inputs.shape[1:]))))

    def compute(img: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        own = inner if clean is None else {**inner, "baseline": clean[img]}
        maps = base.apply(model, inputs[img] + noise[img, s], None if target_n is None else target_n[img], own)
        return torch.stack([maps, maps * maps], 1)

    sums = sum_per_image(inputs.new_zeros(n, 2, *inputs.shape[1:]), n_samples, size, compute)
    mean, mean_sq = sums[:, 0] / n_samples, sums[:, 1] / n_samples
    if statistic == "smoothgrad":
        return mean
    if statistic == "smoothgrad_sq":
        return mean_sq
    return mean_sq - mean * mean


NOISE_PARAMS = ("n_samples", "sigma", "input_range", "seed", "budget_mb", "chunk")


def noise_method(statistic: str, base: Method, name: str | None = None) -> Method:
    """The `statistic` over noisy copies of `base`'s maps, as a Method of its own."""
    return Method(name or f"{statistic}:{base.name}", noise_tunnel, signed=base.signed and statistic == "smoothgrad",
                  passes=lambda params, shape: int(params.get("n_samples", 10)) * base.passes(params, shape),
                  bound={"statistic": statistic, "base": base},
                  accepted=tuple(dict.fromkeys([*NOISE_PARAMS, *base.parameters])), hooks=base.hooks)


for _name in STATISTICS:  # the registered names wrap saliency; `<statistic>:<method>` wraps any method
    METHODS.register(_name)(noise_method(_name, saliency, name=_name))
    register_prefix(_name, lambda rest, statistic=_name: noise_method(statistic, resolve(rest)))
