"""Deletion and insertion curves (Petsiuk et al. 2018): is the attribution order the model's order?

Deletion replaces pixels with the fill value, most important first, and watches the target's
probability fall (lower area is better); insertion starts from the fill image and adds pixels back
(higher area is better). Both are compared with the same curves for a random pixel order. All
(image, step) pairs are evaluated in batched chunks on the inputs' device.
"""

from __future__ import annotations

import torch

from xaicli.explain.chunks import chunk_size, sum_per_image
from xaicli.explain.core import expand_target, generator_for, parameters_frozen, select
from xaicli.explain.measures.base import Column, Context, measure


def probability(output: torch.Tensor, target: torch.Tensor | None, score: str = "softmax") -> torch.Tensor:
    """The target's probability: softmax over classes, or the sigmoid of a single logit (a discriminator)."""
    if score == "softmax":
        return select(output.softmax(1), target)
    return torch.sigmoid(select(output, target))


def pixel_ranks(maps: torch.Tensor) -> torch.Tensor:
    """(N, H*W) rank of each pixel, 0 = most important: channels summed, larger values first."""
    flat = maps.detach().float().nan_to_num(0.0).sum(1).flatten(1)
    order = flat.argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    return ranks


def random_ranks(n: int, pixels: int, device, seed: int) -> torch.Tensor:
    g = generator_for(torch.device("cpu"), seed)
    return torch.stack([torch.randperm(pixels, generator=g) for _ in range(n)]).to(device)


def curves(model, inputs: torch.Tensor, ranks: torch.Tensor, target, fill: float, steps: int = 20,
           score: str = "softmax", budget_mb=None, chunk=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(deletion, insertion) probabilities, each (N, steps + 1), at 0, 1/steps, ..., 1 of the pixels."""
    n, c, h, w = inputs.shape
    pixels = h * w
    counts = torch.round(torch.linspace(0, pixels, steps + 1, device=inputs.device)).long()
    target = expand_target(target, n, inputs.device)
    columns = torch.arange(steps + 1, device=inputs.device)

    def compute(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """One row per (image, step): its two probabilities in the step's column, zeros elsewhere."""
        chosen = (ranks[img] < counts[step].view(-1, 1)).view(-1, 1, h, w)
        x = inputs[img]
        deleted = torch.where(chosen, torch.full_like(x, fill), x)
        inserted = torch.where(chosen, x, torch.full_like(x, fill))
        t = None if target is None else torch.cat([target[img], target[img]])
        probs = probability(model(torch.cat([deleted, inserted])), t, score).float().view(2, -1, 1)
        return torch.where(columns == step.view(-1, 1), probs, 0.0).transpose(0, 1)

    with parameters_frozen(model), torch.no_grad():
        size = chunk_size(model, inputs, budget_mb, chunk)  # two forward passes per item, no backward
        out = sum_per_image(torch.zeros(n, 2, steps + 1, device=inputs.device), steps + 1, size, compute)
    return out[:, 0], out[:, 1]


def area(curve: torch.Tensor) -> torch.Tensor:
    """Area under each (N, S+1) curve over [0, 1] by the trapezoid rule."""
    return torch.trapezoid(curve, dx=1.0 / (curve.shape[1] - 1), dim=1)


def faithfulness(model, inputs, maps, target, fill: float, steps: int = 20, score: str = "softmax",
                 seed: int = 0, budget_mb=None) -> dict:
    """Mean deletion and insertion AUC of the maps and of a random order, and the curves."""
    n, _, h, w = inputs.shape
    del_m, ins_m = curves(model, inputs, pixel_ranks(maps), target, fill, steps, score, budget_mb)
    del_r, ins_r = curves(model, inputs, random_ranks(n, h * w, inputs.device, seed), target, fill, steps, score,
                          budget_mb)
    return {
        "deletion_auc": float(area(del_m).mean()), "insertion_auc": float(area(ins_m).mean()),
        "deletion_auc_random": float(area(del_r).mean()), "insertion_auc_random": float(area(ins_r).mean()),
        "deletion_curve": del_m.mean(0).tolist(), "insertion_curve": ins_m.mean(0).tolist(),
        "deletion_curve_random": del_r.mean(0).tolist(), "insertion_curve_random": ins_r.mean(0).tolist(),
    }


@measure("faithfulness", Column("deletion_auc", "deletion AUC", "lower"),
         Column("deletion_auc_random", "random order"), Column("insertion_auc", "insertion AUC", "higher"),
         Column("insertion_auc_random", "random order"))
def deletion_insertion(ctx: Context) -> dict:
    return faithfulness(ctx.model, ctx.inputs, ctx.maps, ctx.target, ctx.fill, ctx.settings.curve_steps, ctx.score,
                        ctx.settings.seed, ctx.settings.budget_mb)
