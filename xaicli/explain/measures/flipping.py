"""Pixel flipping by patches (Bach et al. 2015; by regions, Samek et al. 2017): square patches,
ranked by the attribution they hold (channels and pixels summed), are set to the fill value on
every channel, most relevant first, and the target's probability is followed; the area under that
curve is the score (lower is better). Patches make the removal coarser than pixel deletion, so a
map is not rewarded for pointing at single pixels that only break the image's statistics."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from xaicli.explain.measures.base import Context, measure, per_image, score
from xaicli.explain.measures.perturb import area, curve_ends, scores_per_step, unit_masks
from xaicli.explain.measures.ranks import descending_ranks, pixel_map


def patch_units(h: int, w: int, patch: int, device) -> torch.Tensor:
    """(H*W,) the patch of every pixel, row-major over a grid of ceil(H/patch) x ceil(W/patch) patches."""
    rows = torch.arange(h, device=device) // patch
    cols = torch.arange(w, device=device) // patch
    return (rows.view(-1, 1) * math.ceil(w / patch) + cols.view(1, -1)).flatten()


def patch_scores(maps: torch.Tensor, patch: int) -> torch.Tensor:
    """(N, U) attribution summed over each patch (a partial patch at the border sums what it has)."""
    n, _, h, w = maps.shape
    pixels = pixel_map(maps).view(n, 1, h, w)
    padded = F.pad(pixels, (0, -w % patch, 0, -h % patch))
    return F.avg_pool2d(padded, patch).flatten(1) * patch * patch


def flipping_curve(model, inputs: torch.Tensor, maps: torch.Tensor, target, fill: float, patch: int = 4,
                   steps: int = 20, score: str = "softmax", budget_mb=None, chunk=None,
                   seed: int | None = 0) -> torch.Tensor:
    """(N, steps + 1) probability with 0, 1/steps, ..., all of the patches set to `fill` (the ends from
    perturb.curve_ends); patches of equal attribution in a random order (None: in reading order)."""
    _, _, h, w = inputs.shape
    units = patch_units(h, w, patch, inputs.device)
    ranks = descending_ranks(patch_scores(maps, patch), seed)
    counts = torch.round(torch.linspace(0, ranks.shape[1], steps + 1, device=inputs.device)).long()[1:-1]

    def perturb(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        return inputs[img].masked_fill(unit_masks(ranks[img], units, counts[step], (h, w)), fill)

    probs, _ = scores_per_step(model, inputs, target, steps - 1, 1, perturb, score, budget_mb, chunk)
    whole, empty = (e.unsqueeze(1) for e in curve_ends(model, inputs, target, fill, score, budget_mb, chunk))
    return torch.cat([whole, probs[:, 0], empty], 1)


@measure("pixel_flipping", score("pixel_flipping", "pixel flipping", "lower", "faithfulness"))
def pixel_flipping(ctx: Context) -> dict:
    s = ctx.settings
    curve = flipping_curve(ctx.model, ctx.inputs, ctx.maps, ctx.target, ctx.fill, s.patch, s.curve_steps, ctx.score,
                           s.budget_mb, seed=s.seed)
    return {"pixel_flipping_curve": curve.mean(0).tolist(), **per_image(pixel_flipping=area(curve))}
