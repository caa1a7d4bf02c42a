"""Complexity of a map, read per pixel (channels' magnitudes summed): sparseness, the Gini index
of the magnitudes (Chalasani et al. 2020; 1 = everything on one pixel, 0 = spread evenly), and
complexity, the entropy of the magnitudes normalised to sum to one (Bhatt et al. 2020; natural log,
at most log(pixels)). Neither says whether a map is right, only how concentrated it is, so neither
counts in the ranking: a map of one arbitrary pixel is as sparse as can be."""

from __future__ import annotations

import torch

from xaicli.explain.measures.base import Context, measure, per_image, score

EPSILON = 1e-7  # added to every normalised magnitude, as Quantus does: an all-zero map has Gini 0


def magnitudes(maps: torch.Tensor) -> torch.Tensor:
    """(N, H*W) |map| summed over channels, float64, non-finite values as 0."""
    return maps.detach().double().nan_to_num(0.0, 0.0, 0.0).abs().sum(1).flatten(1)


def gini(maps: torch.Tensor) -> torch.Tensor:
    """(N,) Gini index of each map's pixel magnitudes, each scaled to a maximum of 1 first."""
    a = magnitudes(maps)
    a = a / a.amax(1, keepdim=True).clamp_min(1e-300) + EPSILON
    a, _ = a.sort(1)
    n = a.shape[1]
    k = torch.arange(1, n + 1, device=a.device, dtype=a.dtype)
    return ((2 * k - n - 1) * a).sum(1) / (n * a.sum(1))


def entropy(maps: torch.Tensor) -> torch.Tensor:
    """(N,) entropy of the pixel magnitudes as a distribution; NaN for an all-zero map."""
    a = magnitudes(maps)
    p = a / a.sum(1, keepdim=True)
    return -(p * torch.log(p + 1e-12)).sum(1)


@measure("sparseness", score("sparseness", "sparseness (Gini)", "higher", "complexity", ranked=False))
def sparseness(ctx: Context) -> dict:
    return per_image(sparseness=gini(ctx.maps))


@measure("complexity", score("complexity", "complexity (entropy)", "lower", "complexity", ranked=False))
def complexity(ctx: Context) -> dict:
    return per_image(complexity=entropy(ctx.maps))
