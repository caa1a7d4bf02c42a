"""The engine behind every perturbation measure (deletion, insertion, pixel flipping, ROAD): each
(image, step) pair builds its perturbed images, the model scores them, and the target's probability
and whether the decision still holds land in the step's column. All pairs run in batched chunks on
the inputs' device (chunks.sum_per_image: sized from the budget, halved on out-of-memory), so the
result does not depend on the chunk."""

from __future__ import annotations

from typing import Callable

import torch

from xaicli.explain.chunks import chunk_size, sum_per_image
from xaicli.explain.core import expand_target, parameters_frozen, select

Perturb = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (images, steps) -> (variants * K, C, H, W)


def probability(output: torch.Tensor, target: torch.Tensor | None, score: str = "softmax") -> torch.Tensor:
    """The target's probability: softmax over classes, or the sigmoid of a single logit (a discriminator)."""
    if score == "softmax":
        return select(output.softmax(1), target)
    return torch.sigmoid(select(output, target))


def decision_kept(output: torch.Tensor, target: torch.Tensor | None, score: str = "softmax") -> torch.Tensor:
    """1 where the model still decides for the target: its top class, or a positive single logit."""
    if score == "softmax" and target is not None:
        return (output.argmax(1) == target).to(output.dtype)
    return (select(output, target) > 0).to(output.dtype)


def scores_per_step(model, inputs: torch.Tensor, target, steps: int, variants: int, perturb: Perturb,
                    score: str = "softmax", budget_mb=None, chunk=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(probability, decision kept), each (N, variants, steps): the model on perturb(images, steps)."""
    n = len(inputs)
    target = expand_target(target, n, inputs.device)
    columns = torch.arange(steps, device=inputs.device)

    def compute(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        out = model(perturb(img, step))
        t = None if target is None else target[img].repeat(variants)
        values = torch.stack([probability(out, t, score), decision_kept(out, t, score)]).float()
        values = values.view(2, variants, -1).permute(2, 1, 0)  # (K, variants, 2)
        here = (columns == step.view(-1, 1)).float()  # (K, steps)
        return values.unsqueeze(-1) * here[:, None, None, :]

    with parameters_frozen(model), torch.inference_mode():
        size = max(1, chunk_size(model, inputs, budget_mb, chunk) // variants)  # forward only, `variants` images
        out = sum_per_image(torch.zeros(n, variants, 2, steps, device=inputs.device), steps, size, compute)
    return out[:, :, 0], out[:, :, 1]


def curve_ends(model, inputs: torch.Tensor, target, fill: float, score: str = "softmax", budget_mb=None,
               chunk=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) the target's probability on the images as they are and on an image of `fill` alone: the
    two ends of every deletion, insertion and pixel-flipping curve (nothing removed, everything
    removed), which no ranking changes. The fill image is one image scored once for every target."""
    whole, _ = scores_per_step(model, inputs, target, 1, 1, lambda img, step: inputs[img], score, budget_mb, chunk)
    with parameters_frozen(model), torch.inference_mode():
        out = model(torch.full_like(inputs[:1], fill)).expand(len(inputs), -1)
        empty = probability(out, expand_target(target, len(inputs), inputs.device), score)
    return whole[:, 0, 0], empty.float()


def unit_masks(ranks: torch.Tensor, units: torch.Tensor, counts: torch.Tensor, shape: tuple,
               least: bool = False) -> torch.Tensor:
    """(K, 1, H, W) True where a pixel's unit is among the first `counts` units of its image's order
    (`least`: among the last). ranks: (K, U) per image; units: (H*W,) the unit of every pixel."""
    pixel_rank = ranks[:, units]
    if least:
        chosen = pixel_rank >= ranks.shape[1] - counts.view(-1, 1)
    else:
        chosen = pixel_rank < counts.view(-1, 1)
    return chosen.view(-1, 1, *shape)


def area(curve: torch.Tensor) -> torch.Tensor:
    """Area under each (..., S+1) curve over [0, 1] by the trapezoid rule."""
    return torch.trapezoid(curve, dx=1.0 / (curve.shape[-1] - 1), dim=-1)
