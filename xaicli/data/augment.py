"""Training augmentation of uint8 batches on their device, drawn from (seed, epoch, step).

The draws are made for the whole global batch and then sliced, so the same image gets the same
augmentation whatever the number of processes, and a resumed epoch replays it exactly. Shift and flip
are drawn first and the crop after them, so runs without a crop see the numbers they always saw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch


def generator(*parts: int) -> torch.Generator:
    """A CPU generator seeded from a tuple of integers (seed, epoch, step, ...)."""
    seed = 0
    for p in parts:
        seed = (seed * 1_000_003 + int(p) + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


def random_shift(x: torch.Tensor, max_shift: int, g: torch.Generator | None = None,
                 offsets: torch.Tensor | None = None) -> torch.Tensor:
    """Translate each image by its own integer offset in [-max_shift, max_shift], zero fill.

    `offsets` (N, 2) may be given; otherwise they are drawn from `g`."""
    n, _, h, w = x.shape
    s = max_shift
    if offsets is None:
        offsets = torch.randint(-s, s + 1, (n, 2), generator=g)
    offsets = offsets.to(x.device)
    padded = torch.nn.functional.pad(x, (s, s, s, s))
    rows = (torch.arange(h, device=x.device) + s).unsqueeze(0) + offsets[:, :1]  # (n, h)
    cols = (torch.arange(w, device=x.device) + s).unsqueeze(0) + offsets[:, 1:]  # (n, w)
    idx_n = torch.arange(n, device=x.device).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[idx_n, rows.unsqueeze(2), cols.unsqueeze(1)]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def crop_boxes(n: int, h: int, w: int, min_scale: float, g: torch.Generator,
               ratio: tuple[float, float] = (3 / 4, 4 / 3), tries: int = 10) -> torch.Tensor:
    """(n, 4) boxes (top, left, height, width) as torchvision's RandomResizedCrop draws them: an area of
    U(min_scale, 1) of the image and a log-uniform aspect ratio, the first of `tries` that fits, else
    the whole image; then a uniform position."""
    area = h * w * (min_scale + (1 - min_scale) * torch.rand(n, tries, generator=g))
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * torch.rand(n, tries, generator=g)
    aspect = torch.exp(log_r)
    cw = torch.sqrt(area * aspect).round()
    ch = torch.sqrt(area / aspect).round()
    fits = (cw >= 1) & (cw <= w) & (ch >= 1) & (ch <= h)
    first = torch.where(fits.any(1), fits.float().argmax(1), torch.full((n,), -1))
    rows = torch.arange(n)
    ch = torch.where(first >= 0, ch[rows, first.clamp_min(0)], torch.full((n,), float(h)))
    cw = torch.where(first >= 0, cw[rows, first.clamp_min(0)], torch.full((n,), float(w)))
    u = torch.rand(n, 2, generator=g)
    top = torch.floor(u[:, 0] * (h - ch + 1))
    left = torch.floor(u[:, 1] * (w - cw + 1))
    return torch.stack([top, left, ch, cw], 1)


def _sample_points(start: torch.Tensor, length: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
    """Bilinear taps for resizing a span [start, start + length) to `size` pixels (half-pixel centres, the
    edge pixel repeated, as torchvision's resize of the cropped image): (lower index, upper index, weight)."""
    pos = start[:, None] + (torch.arange(size, device=start.device) + 0.5) * (length[:, None] / size) - 0.5
    pos = torch.maximum(torch.minimum(pos, start[:, None] + length[:, None] - 1), start[:, None])
    lo = pos.floor()
    hi = torch.minimum(lo + 1, start[:, None] + length[:, None] - 1)
    return lo.long(), hi.long(), (pos - lo)


def resized_crop(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Each uint8 image's box (top, left, height, width) resized (bilinear) back to the image's size:
    what torchvision's resized_crop gives for a box no larger than the image."""
    n, _, h, w = x.shape
    b = boxes.to(x.device, torch.float32)
    y0, y1, wy = _sample_points(b[:, 0], b[:, 2], h)
    x0, x1, wx = _sample_points(b[:, 1], b[:, 3], w)
    img = x.permute(0, 2, 3, 1).float()  # (n, h, w, c)
    idx = torch.arange(n, device=x.device).view(n, 1, 1)

    def rows(r: torch.Tensor) -> torch.Tensor:
        top = img[idx, r[:, :, None], x0[:, None, :]]
        return top + (img[idx, r[:, :, None], x1[:, None, :]] - top) * wx[:, None, :, None]

    upper = rows(y0)
    out = upper + (rows(y1) - upper) * wy[:, :, None, None]
    return out.round_().clamp_(0, 255).to(torch.uint8).permute(0, 3, 1, 2).contiguous()


@dataclass(frozen=True)
class Augment:
    shift: int = 0  # pixels
    hflip: bool = False
    crop_scale: float = 0.0  # random resized crop's smallest area share (0: off)

    @property
    def active(self) -> bool:
        return bool(self.shift or self.hflip or self.crop_scale)

    def __call__(self, xb: torch.Tensor, n_global: int, key: tuple[int, ...],
                 mine: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Augment this process's part `xb` of a global batch of `n_global` images; `key` is
        (seed, epoch, step) and `mine` slices a global-batch tensor to this process's part."""
        g = generator(*key, 7)
        offsets = torch.randint(-self.shift, self.shift + 1, (n_global, 2), generator=g) if self.shift else None
        flip = torch.rand(n_global, generator=g) < 0.5 if self.hflip else None
        boxes = crop_boxes(n_global, xb.shape[2], xb.shape[3], self.crop_scale, g) if self.crop_scale else None
        if boxes is not None:
            xb = resized_crop(xb, mine(boxes))
        if offsets is not None:
            xb = random_shift(xb, self.shift, offsets=mine(offsets))
        if flip is not None:
            xb = torch.where(mine(flip).to(xb.device).view(-1, 1, 1, 1), xb.flip(3), xb)
        return xb
