"""Bootstrap over images: resampled means of per-image scores, percentile intervals, and paired
differences, all from one set of resampled image indices so that every comparison is paired."""

from __future__ import annotations

import torch

from xaicli.explain.core import generator_for

RESAMPLES_PER_CHUNK = 128  # resamples gathered at once (bounds the memory of rows x images x resamples)
TIE = 1e-9  # differences this small are rounding (two correlations of 1 computed two ways), not a difference


def resample_indices(n: int, resamples: int, seed: int = 0) -> torch.Tensor:
    """(B, n) image indices drawn with replacement; the same for the same (n, B, seed)."""
    return torch.randint(0, n, (resamples, n), generator=generator_for(torch.device("cpu"), seed))


def resampled_means(scores: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """scores (..., n) with NaN for a missing score -> (..., B) the mean of each resample (NaN-aware)."""
    indices = indices.to(scores.device)
    parts = [scores[..., chunk].nanmean(-1) for chunk in indices.split(RESAMPLES_PER_CHUNK)]
    return torch.cat(parts, -1)


def interval(samples: torch.Tensor, confidence: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Percentile interval over the last dimension (NaN samples ignored)."""
    tail = (1 - confidence) / 2
    q = torch.tensor([tail, 1 - tail], dtype=samples.dtype, device=samples.device)
    bounds = samples.nanquantile(q, dim=-1)
    return bounds[0], bounds[1]


def verdict(oriented_difference: torch.Tensor, confidence: float = 0.95) -> list[str]:
    """Per row of (..., B) resampled differences oriented so that positive is better: "better" when
    the interval lies above zero, "worse" below, else "indistinguishable" ("" without samples)."""
    lo, hi = interval(oriented_difference, confidence)
    out = []
    for a, b in zip(lo.flatten().tolist(), hi.flatten().tolist(), strict=True):
        out.append("" if a != a else "better" if a > TIE else "worse" if b < -TIE else "indistinguishable")
    return out


def orientation(better: str) -> float:
    """+1 when higher is better, -1 when lower is better."""
    return -1.0 if better == "lower" else 1.0


def average_ranks_of_rows(values: torch.Tensor) -> torch.Tensor:
    """values (R, B): rank of each row within each column, 1 = largest, ties (within TIE) averaged,
    NaN rows left out (rank NaN)."""
    filled = values.nan_to_num(-1e300)
    gap = filled.unsqueeze(0) - filled.unsqueeze(1)  # [i, j]: row j minus row i
    greater = (gap > TIE).sum(1).double()  # rows strictly ahead
    equal = (gap.abs() <= TIE).sum(1).double()
    ranks = greater + (equal + 1) / 2
    return torch.where(values.isnan(), torch.nan, ranks)
