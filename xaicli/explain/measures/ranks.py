"""Rank statistics batched over rows on the tensors' device: average ranks with ties, Spearman's
correlation of many pairs of maps at once, and the pixel map every perturbation measure reads."""

from __future__ import annotations

import torch


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks (0-based, float64) along the last dimension of a (R, P) tensor, ties sharing their
    average rank, as Spearman's correlation needs; a 1-D tensor is one row."""
    flat = values.reshape(-1, values.shape[-1])
    r, p = flat.shape
    order = flat.argsort(dim=1, stable=True)
    ordered = flat.gather(1, order)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    group = starts.long().cumsum(1) - 1 + torch.arange(r, device=flat.device).view(-1, 1) * p
    position = torch.arange(p, device=flat.device, dtype=torch.float64).expand(r, p).reshape(-1)
    first = torch.full((r * p,), float(p), dtype=torch.float64, device=flat.device)
    last = torch.zeros(r * p, dtype=torch.float64, device=flat.device)
    first.scatter_reduce_(0, group.reshape(-1), position, "amin")
    last.scatter_reduce_(0, group.reshape(-1), position, "amax")
    mean = ((first + last) / 2)[group]
    ranks = torch.empty((r, p), dtype=torch.float64, device=flat.device)
    ranks.scatter_(1, order, mean)
    return ranks.reshape(values.shape)


def spearman_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's correlation of each row of a with the same row of b (each row flattened):
    (R,) float64, NaN where either row is constant or not finite."""
    a, b = a.reshape(len(a), -1).double(), b.reshape(len(b), -1).double()
    finite = torch.isfinite(a).all(1) & torch.isfinite(b).all(1)
    ra, rb = average_ranks(a.nan_to_num(0.0, 0.0, 0.0)), average_ranks(b.nan_to_num(0.0, 0.0, 0.0))
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    denom = ra.norm(dim=1) * rb.norm(dim=1)
    rho = (ra * rb).sum(1) / denom.clamp_min(1e-300)
    return torch.where(finite & (denom > 0), rho, torch.nan)


def magnitude_correlation(original: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Spearman of |original| and |other| per image (N,); a map that became constant (a CAM that is
    all zero once the weights are random) shares no ranking with a non-constant original: 0."""
    rho = spearman_rows(original.abs(), other.abs())
    flat = original.detach().abs().reshape(len(original), -1)
    varies = (flat.amax(1) - flat.amin(1)) > 0
    other_flat = other.detach().abs().reshape(len(other), -1)
    other_constant = torch.isfinite(other_flat).all(1) & ((other_flat.amax(1) - other_flat.amin(1)) == 0)
    return torch.where(rho.isnan() & varies & other_constant, torch.zeros_like(rho), rho)


def pixel_map(maps: torch.Tensor) -> torch.Tensor:
    """(N, H*W) attribution per pixel, channels summed, non-finite values as 0."""
    return maps.detach().float().nan_to_num(0.0, 0.0, 0.0).sum(1).flatten(1)


def descending_ranks(scores: torch.Tensor, seed: int | None = None) -> torch.Tensor:
    """(N, U) rank of each unit, 0 = largest score. Ties go to the earlier unit first, or, given a
    seed, in a random order: a map that gives the whole background the same value (integrated
    gradients from a black baseline) then has its background taken in no spatial order, rather
    than row by row from the top of the image."""
    if seed is not None:
        g = torch.Generator().manual_seed(int(seed))
        shuffle = torch.randperm(scores.shape[1], generator=g).to(scores.device)
        order = shuffle[scores[:, shuffle].argsort(dim=1, descending=True, stable=True)]
    else:
        order = scores.argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(scores.shape[1], device=scores.device).expand_as(order))
    return ranks
