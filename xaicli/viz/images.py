"""Image tensors to files: [-1, 1] <-> uint8, grids with a gutter, PNGs written atomically."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from xaicli.runs.files import atomic_write_bytes


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8 in [0, 255] (the inverse of x / 127.5 - 1), on the CPU."""
    return ((images.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [-1, 1]."""
    return images.float() / 127.5 - 1.0


def grid(images: torch.Tensor, ncol: int, pad: int = 2, fill: int = 0) -> torch.Tensor:
    """uint8 (N, C, H, W) -> one uint8 (C, rows*(H+pad)+pad, ncol*(W+pad)+pad) image, row-major."""
    n, c, h, w = images.shape
    ncol = max(1, min(ncol, n))
    nrow = -(-n // ncol)
    out = torch.full((c, nrow * (h + pad) + pad, ncol * (w + pad) + pad), fill, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        out[:, top:top + h, left:left + w] = images[i]
    return out


def png_bytes(image: torch.Tensor, scale: int = 1, caption: str = "") -> bytes:
    """uint8 (C, H, W) with C in (1, 3) -> PNG bytes, each pixel repeated `scale` times per side; a caption
    goes in a band above the image."""
    from PIL import Image

    if scale > 1:
        image = image.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    array = image.permute(1, 2, 0).numpy()
    pil = Image.fromarray(array[:, :, 0], mode="L") if array.shape[2] == 1 else Image.fromarray(array, mode="RGB")
    if caption:
        pil = with_caption(pil, caption)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def with_caption(pil, caption: str, band: int = 18):
    """The image with `caption` written in a black band above it."""
    from PIL import Image, ImageDraw

    out = Image.new(pil.mode, (pil.width, pil.height + band), 0)
    out.paste(pil, (0, band))
    ImageDraw.Draw(out).text((4, 3), caption, fill=255 if pil.mode == "L" else (255, 255, 255))
    return out


def save_png(image: torch.Tensor, path: Path, scale: int = 1, caption: str = "") -> None:
    atomic_write_bytes(Path(path), png_bytes(image, scale, caption))


def save_grid(images: torch.Tensor, path: Path, ncol: int = 8, scale: int = 2, caption: str = "") -> None:
    """uint8 (N, C, H, W) as one PNG grid, optionally captioned."""
    save_png(grid(images, ncol), path, scale, caption)
