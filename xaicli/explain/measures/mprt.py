"""The repaired randomisation tests of Hedstroem et al. 2023 ("Sanity checks revisited"), both on
the fully randomized model (the end of the cascade in sanity.py, computed once per method):

- smooth MPRT: the maps of the original and of the randomized model are each averaged over noisy
  copies of the input (Gaussian noise, std a fraction of each image's range; the last copy without
  noise) before their Spearman correlation of magnitudes is taken, so that gradient noise, which
  survives randomization, does not pass for structure. Lower is better.
- efficient MPRT: the relative rise of the maps' discrete entropy (a histogram of equal-width bins
  between each map's minimum and maximum) from the original to the randomized model. A map that
  depended on the learnt weights turns into noise: higher is better. No threshold, no correlation.

And the random-logit test (Sixt et al. 2020): the map for the target against the map for another
class drawn at random, by the same Spearman correlation of magnitudes (Quantus uses SSIM by
default; the correlation keeps every randomisation measure on one scale). Lower is better; models
with one output (a discriminator's logit) have no other class, and the test is not run.
"""

from __future__ import annotations

import torch

from xaicli.explain.core import generator_for
from xaicli.explain.measures import ranks
from xaicli.explain.measures.base import Context, measure, per_image, score
from xaicli.explain.measures.sanity import randomized_maps


def smoothed_maps(method, model, inputs: torch.Tensor, target, params: dict, samples: int = 10,
                  noise: float = 0.1, seed: int = 0) -> torch.Tensor:
    """The method's maps averaged over `samples` copies of the inputs, all but the last with Gaussian
    noise of std noise x (max - min) of each image."""
    dims = tuple(range(1, inputs.ndim))
    std = noise * (inputs.amax(dims, keepdim=True) - inputs.amin(dims, keepdim=True))
    g = generator_for(inputs.device, seed)
    total = torch.zeros_like(inputs)
    for k in range(samples):
        x = inputs if k == samples - 1 else inputs + std * torch.randn(inputs.shape, generator=g, device=inputs.device,
                                                                        dtype=inputs.dtype)
        total += method(model, x, target, **params).detach().expand_as(inputs)
    return total / samples


def discrete_entropy(maps: torch.Tensor, bins: int = 100) -> torch.Tensor:
    """(N,) entropy (natural log) of the histogram of each map's values in `bins` equal-width bins
    from its minimum to its maximum, binned as numpy.histogram does; 0 for a constant map."""
    a = maps.detach().double().reshape(len(maps), -1)
    lo, hi = a.amin(1, keepdim=True), a.amax(1, keepdim=True)
    flat = hi == lo
    lo, hi = torch.where(flat, lo - 0.5, lo), torch.where(flat, hi + 0.5, hi)
    index = ((a - lo) * (bins / (hi - lo))).long().clamp(0, bins - 1)
    edges = torch.arange(bins + 1, device=a.device, dtype=a.dtype) * ((hi - lo) / bins) + lo  # as numpy.linspace
    edges[:, -1:] = hi
    index = index - (a < edges.gather(1, index)).long()
    index = index + ((a >= edges.gather(1, index + 1)) & (index != bins - 1)).long()
    counts = torch.zeros(len(a), bins, dtype=a.dtype, device=a.device).scatter_add_(1, index, torch.ones_like(a))
    p = counts / counts.sum(1, keepdim=True)
    return -(p * torch.log(torch.where(p > 0, p, 1.0))).sum(1)


def entropy_rise(original: torch.Tensor, randomized: torch.Tensor, bins: int = 100) -> torch.Tensor:
    """(N,) (H(randomized) - H(original)) / H(original); NaN where the original map is constant."""
    before, after = discrete_entropy(original, bins), discrete_entropy(randomized, bins)
    return torch.where(before > 0, (after - before) / before.clamp_min(1e-300), torch.nan)


def other_classes(target: torch.Tensor, classes: int, seed: int = 0) -> torch.Tensor:
    """(N,) a class other than each target, uniformly among the other classes."""
    g = generator_for(torch.device("cpu"), seed)
    offset = torch.randint(1, classes, (len(target),), generator=g).to(target.device)
    return (target + offset) % classes


@measure("smooth_mprt", score("smooth_mprt", "smooth MPRT", "lower", "randomisation"), randomisation=True)
def smooth_mprt(ctx: Context) -> dict:
    s = ctx.settings
    randomized, _ = randomized_maps(ctx)
    before = smoothed_maps(ctx.method, ctx.model, ctx.inputs, ctx.target, ctx.params, s.smooth_samples,
                           s.smooth_noise, s.seed)
    after = smoothed_maps(ctx.method, randomized, ctx.inputs, ctx.target, ctx.params, s.smooth_samples,
                          s.smooth_noise, s.seed)
    return per_image(smooth_mprt=ranks.magnitude_correlation(before, after))


@measure("efficient_mprt", score("efficient_mprt", "efficient MPRT", "higher", "randomisation"),
         randomisation=True)
def efficient_mprt(ctx: Context) -> dict:
    _, after = randomized_maps(ctx)
    return per_image(efficient_mprt=entropy_rise(ctx.maps, after, ctx.settings.entropy_bins))


def random_logit_scores(method, model, inputs: torch.Tensor, target: torch.Tensor, maps: torch.Tensor,
                        params: dict, other: torch.Tensor) -> torch.Tensor:
    """(N,) Spearman of |maps| for the target and |maps| for the `other` classes."""
    return ranks.magnitude_correlation(maps, method(model, inputs, other, **params).detach())


@measure("random_logit", score("random_logit", "random logit", "lower", "randomisation"), randomisation=True)
def random_logit(ctx: Context) -> dict:
    if ctx.score != "softmax" or ctx.target is None:
        return {}
    with torch.no_grad():
        classes = ctx.model(ctx.inputs[:1]).shape[1]
    if classes < 2:
        return {}
    target = ctx.target.expand(len(ctx.inputs)) if ctx.target.numel() == 1 else ctx.target
    other = other_classes(target, classes, ctx.settings.seed)
    return per_image(random_logit=random_logit_scores(ctx.method, ctx.model, ctx.inputs, target, ctx.maps,
                                                      ctx.params, other))
