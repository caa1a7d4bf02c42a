"""Occlusion (Zeiler and Fergus 2014): the score's drop when a window is replaced by the baseline.

Windows slide with the given stride (the last one may run past the edge and is cropped, as in
Captum); each pixel gets the mean drop over the windows covering it. The (window, image) pairs are
evaluated in batched chunks from the memory budget (image-major), never one window at a time.
"""

from __future__ import annotations

import math

import torch

from xaicli.explain.baselines import make_baseline
from xaicli.explain.chunks import chunk_size, sum_per_image
from xaicli.explain.core import expand_target, parameters_frozen, select
from xaicli.explain.registry import register_method


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Where the windows along one side start (the last may run past the edge)."""
    return [i * stride for i in range(math.ceil((size - min(window, size)) / stride) + 1)]


def window_masks(height: int, width: int, window: int, stride: int, device) -> torch.Tensor:
    """(P, 1, H, W) float masks, one per window position, rows first."""
    wh, ww = min(window, height), min(window, width)
    rows, cols = window_starts(height, window, stride), window_starts(width, window, stride)
    masks = torch.zeros(len(rows) * len(cols), 1, height, width, device=device)
    for p, (r, c) in enumerate((r, c) for r in rows for c in cols):
        masks[p, 0, r:r + wh, c:c + ww] = 1
    return masks


def _passes(params: dict, shape: tuple) -> int:
    """Forward passes per image: one per window position on an input of this (C, H, W) shape."""
    window, stride = int(params.get("window", 4)), int(params.get("stride", 2))
    return len(window_starts(shape[-2], window, stride)) * len(window_starts(shape[-1], window, stride))


@register_method("occlusion", signed=True, passes=_passes)
def occlusion(model, inputs, target=None, window: int = 4, stride: int = 2, baseline="zero", input_range=None,
              mean_image=None, blur_sigma: float = 4.0, seed: int = 0, budget_mb=None, chunk=None):
    n = len(inputs)
    if window < 1 or stride < 1:
        raise ValueError("occlusion: window and stride must be at least 1")
    base = make_baseline(inputs, baseline, input_range, mean_image, blur_sigma, seed)
    masks = window_masks(inputs.shape[2], inputs.shape[3], window, stride, inputs.device).to(inputs.dtype)
    target_n = expand_target(target, n, inputs.device)
    with parameters_frozen(model), torch.no_grad():
        size = chunk_size(model, inputs, budget_mb, chunk)
        size = max(1, size * 2)  # no backward pass: about half the memory of a gradient pass
        original = select(model(inputs), target_n)

        def compute(img: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
            m = masks[win]
            occluded = inputs[img] * (1 - m) + base[img] * m
            drop = original[img] - select(model(occluded), None if target_n is None else target_n[img])
            return drop.view(-1, 1, 1, 1) * m

        total = sum_per_image(inputs.new_zeros(n, 1, *inputs.shape[2:]), len(masks), size, compute)
    return (total / masks.sum(0, keepdim=True)).expand_as(inputs).contiguous()
