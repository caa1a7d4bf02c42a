"""Deletion and insertion curves (Petsiuk et al. 2018): is the attribution order the model's order?

Deletion replaces pixels with the fill value, most important first, and watches the target's
probability fall (lower area is better); insertion starts from the fill image and adds pixels back
(higher area is better). The random-attribution reference gives the same curves for a random pixel
order. All (image, step) pairs are evaluated in batched chunks on the inputs' device.
"""

from __future__ import annotations

import torch

from xaicli.explain.measures.base import Context, measure, per_image, score
from xaicli.explain.measures.perturb import area, curve_ends, scores_per_step, unit_masks
from xaicli.explain.measures.ranks import descending_ranks, pixel_map
from xaicli.explain.measures.reference import random_maps


def pixel_ranks(maps: torch.Tensor, seed: int | None = None) -> torch.Tensor:
    """(N, H*W) rank of each pixel, 0 = most important: channels summed, larger values first; ties
    in reading order, or in a random order given a seed."""
    return descending_ranks(pixel_map(maps), seed)


def curves(model, inputs: torch.Tensor, ranks: torch.Tensor, target, fill: float, steps: int = 20,
           score: str = "softmax", budget_mb=None, chunk=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(deletion, insertion) probabilities, each (N, steps + 1), at 0, 1/steps, ..., 1 of the pixels;
    the ends (the image itself, the fill image) scored once for both curves (perturb.curve_ends)."""
    _, _, h, w = inputs.shape
    counts = torch.round(torch.linspace(0, h * w, steps + 1, device=inputs.device)).long()[1:-1]
    units = torch.arange(h * w, device=inputs.device)

    def perturb(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        chosen = unit_masks(ranks[img], units, counts[step], (h, w))
        x = inputs[img]
        return torch.cat([x.masked_fill(chosen, fill), torch.where(chosen, x, torch.full_like(x, fill))])

    probs, _ = scores_per_step(model, inputs, target, steps - 1, 2, perturb, score, budget_mb, chunk)
    whole, empty = (e.unsqueeze(1) for e in curve_ends(model, inputs, target, fill, score, budget_mb, chunk))
    return torch.cat([whole, probs[:, 0], empty], 1), torch.cat([empty, probs[:, 1], whole], 1)


def faithfulness(model, inputs, maps, target, fill: float, steps: int = 20, score: str = "softmax",
                 seed: int = 0, budget_mb=None) -> dict:
    """Mean deletion and insertion AUC of the maps and of the random reference, and the curves."""
    del_m, ins_m = curves(model, inputs, pixel_ranks(maps), target, fill, steps, score, budget_mb)
    del_r, ins_r = curves(model, inputs, pixel_ranks(random_maps(inputs, seed)), target, fill, steps, score,
                          budget_mb)
    return {
        "deletion_auc": float(area(del_m).mean()), "insertion_auc": float(area(ins_m).mean()),
        "deletion_auc_random": float(area(del_r).mean()), "insertion_auc_random": float(area(ins_r).mean()),
        "deletion_curve": del_m.mean(0).tolist(), "insertion_curve": ins_m.mean(0).tolist(),
        "deletion_curve_random": del_r.mean(0).tolist(), "insertion_curve_random": ins_r.mean(0).tolist(),
    }


@measure("deletion_insertion", score("deletion_auc", "deletion AUC", "lower", "faithfulness"),
         score("insertion_auc", "insertion AUC", "higher", "faithfulness"))
def deletion_insertion(ctx: Context) -> dict:
    s = ctx.settings
    dele, ins = curves(ctx.model, ctx.inputs, pixel_ranks(ctx.maps, s.seed), ctx.target, ctx.fill, s.curve_steps,
                       ctx.score, s.budget_mb)
    return {"deletion_curve": dele.mean(0).tolist(), "insertion_curve": ins.mean(0).tolist(),
            **per_image(deletion_auc=area(dele), insertion_auc=area(ins))}
