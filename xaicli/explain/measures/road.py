"""ROAD (Rong et al. 2022, "A Consistent and Efficient Evaluation Strategy for Attribution Methods"):
remove a fraction of the pixels, most relevant first (MoRF) or least relevant first (LeRF), and fill
them by noisy linear imputation, so that the removal itself does not carry the information the
model reads (the out-of-distribution artefact of a constant fill). The symmetric relevance gain
(SRG, Bluecher et al. 2024) is the LeRF area minus the MoRF area: higher is better.

Noisy linear imputation: each removed pixel takes the weighted mean of its 8 neighbours (1/6 for
the 4 direct ones, 1/12 for the diagonals, removed neighbours being unknowns too), plus Gaussian
noise. Where the reference code solves that sparse system with a CPU solver one image at a time,
here every image, channel and fraction of a chunk is solved at once on the inputs' device by
conjugate gradients preconditioned with the diagonal (the system is symmetric positive definite as
long as one pixel is kept). The noise is a hash of (seed, image, fraction, order, pixel), so it
does not depend on how the work is chunked.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch.nn import functional as F

from xaicli.explain.measures.base import Context, measure, per_image, score
from xaicli.explain.measures.perturb import scores_per_step, unit_masks
from xaicli.explain.measures.ranks import descending_ranks, pixel_map

NEIGHBOURS = ((1 / 12, 1 / 6, 1 / 12), (1 / 6, 0.0, 1 / 6), (1 / 12, 1 / 6, 1 / 12))
TOLERANCE = 1e-6  # relative residual of every system at which conjugate gradients stop
CHECK_EVERY = 8  # iterations between convergence checks (each one waits for the device)


def _neighbour_sum(v: torch.Tensor) -> torch.Tensor:
    """The NEIGHBOURS-weighted sum around every pixel, zero outside the image: the separable
    [1 2 1] x [1 2 1] / 12 filter less its centre, by shifted additions (faster than a 3 x 3
    convolution with one channel)."""
    p = F.pad(v, (1, 1, 1, 1))
    rows = p[..., :, :-2] + 2 * p[..., :, 1:-1] + p[..., :, 2:]
    return (rows[..., :-2, :] + 2 * rows[..., 1:-1, :] + rows[..., 2:, :] - 4 * v) / 12


@contextlib.contextmanager
def one_thread_on_cpu(device: torch.device) -> Iterator[None]:
    """On the CPU, torch runs on one thread inside the block: the solver's many small element-wise
    operations gain nothing from a second thread, and on a busy machine every one of them would wait
    at a barrier for it (measured on a shared 2-core CPU: 14 s with two threads, 0.3 s with one)."""
    if device.type != "cpu" or torch.get_num_threads() == 1:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def linear_imputation(x: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """x (B, C, H, W) with the pixels where removed (B, 1, H, W) is True replaced by the solution of
    the imputation system (no noise). Rows with nothing removed come back unchanged."""
    with one_thread_on_cpu(x.device):
        return _solve(x, removed)


def _solve(x: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    xs = x.reshape(b * c, 1, h, w)
    m = removed.to(x.dtype).repeat_interleave(c, 0)
    weight = _neighbour_sum(torch.ones(1, 1, h, w, dtype=x.dtype, device=x.device))  # in-image neighbours

    def apply(v: torch.Tensor) -> torch.Tensor:
        return (weight * v - _neighbour_sum(v * m)) * m

    rhs = _neighbour_sum(xs * (1 - m)) * m
    v = rhs / weight
    r = rhs - apply(v)
    z = r / weight
    p = z.clone()
    rz = (r * z).sum((1, 2, 3), keepdim=True)
    scale = rhs.flatten(1).norm(dim=1).clamp_min(torch.finfo(x.dtype).tiny)
    for i in range(1, 4 * (h + w) * 4 + 1):
        ap = apply(p)
        pap = (p * ap).sum((1, 2, 3), keepdim=True)
        alpha = torch.where(pap > 0, rz / pap.clamp_min(torch.finfo(x.dtype).tiny), 0.0)
        v = v + alpha * p
        r = r - alpha * ap
        z = r / weight
        rz_next = (r * z).sum((1, 2, 3), keepdim=True)
        p = z + torch.where(rz > 0, rz_next / rz.clamp_min(torch.finfo(x.dtype).tiny), 0.0) * p
        rz = rz_next
        if i % CHECK_EVERY == 0 and bool((r.flatten(1).norm(dim=1) / scale).max() < TOLERANCE):
            break
    return torch.where(m > 0, v, xs).view(b, c, h, w)


def _mix(k: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (lowbias32-style) of a non-negative int64 tensor."""
    mask = 0xFFFFFFFF
    k = k & mask
    k = ((k ^ (k >> 16)) * 0x7FEB352D) & mask
    k = ((k ^ (k >> 15)) * 0x2C1B3C6D) & mask
    return k ^ (k >> 16)


def hashed_normal(keys: torch.Tensor, shape: tuple, seed: int, dtype=torch.float32) -> torch.Tensor:
    """(K, *shape) standard normal noise that depends only on (seed, key, position): Box-Muller over
    two hashed uniforms, computed on the keys' device."""
    size = 1
    for s in shape:
        size *= s
    pos = torch.arange(size, device=keys.device)
    base = _mix(keys.view(-1, 1) * 0x9E3779B1 + _mix(torch.tensor(seed, device=keys.device) + 0x632BE5AB))
    u1 = (_mix(base ^ (2 * pos)).double() + 1.0) / 4294967297.0
    u2 = _mix(base ^ (2 * pos + 1)).double() / 4294967296.0
    normal = torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * torch.pi * u2)
    return normal.to(dtype).view(-1, *shape)


def removal_counts(pixels: int, fractions, device) -> torch.Tensor:
    """Pixels removed at each fraction: floor(pixels x fraction), as Quantus and the ROAD code do."""
    return torch.tensor([int(pixels * f + 1e-9) for f in fractions], device=device, dtype=torch.long)


def road_curves(model, inputs: torch.Tensor, maps: torch.Tensor, target, fractions=(0.1, 0.5, 0.9),
                noise: float = 0.01, seed: int = 0, score: str = "softmax", budget_mb=None,
                chunk=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(probability, decision kept), each (N, 2, F): MoRF then LeRF, at each removal fraction; pixels
    of equal attribution are taken in a random order (ranks.descending_ranks)."""
    n, c, h, w = inputs.shape
    ranks = descending_ranks(pixel_map(maps), seed)
    counts = removal_counts(h * w, fractions, inputs.device)
    units = torch.arange(h * w, device=inputs.device)
    steps = len(fractions)

    def perturb(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        x = inputs[img]
        out = []
        for order, least in enumerate((False, True)):
            removed = unit_masks(ranks[img], units, counts[step], (h, w), least)
            filled = linear_imputation(x, removed)
            keys = (img * steps + step) * 2 + order
            jitter = noise * hashed_normal(keys, (c, h, w), seed, x.dtype) if noise else 0.0
            out.append(torch.where(removed, filled + jitter, x))
        return torch.cat(out)

    return scores_per_step(model, inputs, target, steps, 2, perturb, score, budget_mb, chunk)


@measure("road", score("road_morf", "ROAD MoRF", "lower", "faithfulness"),
         score("road_lerf", "ROAD LeRF", "higher", "faithfulness"),
         score("srg", "SRG (LeRF - MoRF)", "higher", "faithfulness"))
def road(ctx: Context) -> dict:
    """Mean probability over the removal fractions, per image; the accuracy curves for the record."""
    s = ctx.settings
    probs, kept = road_curves(ctx.model, ctx.inputs, ctx.maps, ctx.target, s.road_fractions, s.road_noise, s.seed,
                              ctx.score, s.budget_mb)
    morf, lerf = probs[:, 0].mean(1), probs[:, 1].mean(1)
    return {"road": {"fractions": list(s.road_fractions), "morf_probability": probs[:, 0].mean(0).tolist(),
                     "lerf_probability": probs[:, 1].mean(0).tolist(), "morf_accuracy": kept[:, 0].mean(0).tolist(),
                     "lerf_accuracy": kept[:, 1].mean(0).tolist()},
            **per_image(road_morf=morf, road_lerf=lerf, srg=lerf - morf)}
