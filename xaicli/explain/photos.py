"""The user's image files for `xai explain --images`: which files, the model's view of each (resized and
centre-cropped as the weights or the run expect) and the photo itself at its own resolution and colour,
with the box the model saw, so maps are drawn on the photo and not on the model's small input."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xaicli.data.decode import EXTENSION_FORMATS, BadImage, decode_bytes, read_file
from xaicli.errors import ConfigError, XaiError

MAX_SIDE = 1024  # photos drawn larger than this on their longer side are scaled down (report size)


@dataclass
class Photo:
    """One image file: its path, the picture as drawn (uint8 (H, W, 3), scaled down only past MAX_SIDE)
    and the box (top, left, height, width) of the picture that the model's input covers."""

    path: Path
    rgb: np.ndarray
    box: tuple[int, int, int, int]


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in EXTENSION_FORMATS


def image_files(paths: list[str]) -> list[Path]:
    """Files, folders (their images, recursively, in sorted order) and glob patterns, in the order given,
    each file once. A path that names nothing, or a folder without images, is a ConfigError."""
    found: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and is_image_name(p))
            if not inside:
                kinds = ", ".join(sorted(EXTENSION_FORMATS))
                raise ConfigError(f"--images: folder {given} holds no image files ({kinds})")
            found += inside
        elif path.is_file():
            found.append(path)
        elif any(ch in given for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            if not matches:
                raise ConfigError(f"--images: pattern {given!r} matches no file")
            found += matches
        else:
            raise ConfigError(f"--images: {given}: no such file or folder")
    return list(dict.fromkeys(found))


def crop_box(height: int, width: int, resize: int, crop: int) -> tuple[float, float, float, float]:
    """(top, left, height, width) in the original picture of torchvision's Resize(resize) (the shorter side)
    followed by CenterCrop(crop)."""
    scale = resize / min(height, width)
    rh, rw = height * scale, width * scale
    ch, cw = min(crop, rh), min(crop, rw)
    return (rh - ch) / 2 / scale, (rw - cw) / 2 / scale, ch / scale, cw / scale


def model_view(x: torch.Tensor, resize: int, crop: int, interpolation: str = "bilinear") -> torch.Tensor:
    """uint8 (C, crop, crop): the shorter side resized to `resize` (antialiased), then the centre crop."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2.functional import center_crop
    from torchvision.transforms.v2.functional import resize as tv_resize

    mode = InterpolationMode(interpolation) if interpolation in {m.value for m in InterpolationMode} \
        else InterpolationMode.BILINEAR
    return center_crop(tv_resize(x, [resize], interpolation=mode, antialias=True), [crop, crop]).contiguous()


def drawn(x: torch.Tensor) -> tuple[np.ndarray, float]:
    """(uint8 (H, W, 3) picture, its scale): the image in colour (grey repeated), scaled down past MAX_SIDE."""
    from torchvision.transforms.v2.functional import resize as tv_resize

    scale = min(1.0, MAX_SIDE / max(x.shape[1:]))
    if scale < 1:
        x = tv_resize(x, [max(1, round(x.shape[1] * scale)), max(1, round(x.shape[2] * scale))], antialias=True)
    rgb = x.expand(3, -1, -1) if x.shape[0] == 1 else x
    return rgb.permute(1, 2, 0).contiguous().numpy(), scale


def read_photos(files: list[Path], channels: int, resize: int, crop: int,
                interpolation: str = "bilinear") -> tuple[torch.Tensor, list[Photo]]:
    """uint8 model views (N, channels, crop, crop) and the photos; an unreadable file is one XaiError line."""
    views, photos = [], []
    for path in files:
        try:
            full = decode_bytes(read_file(path), channels)
            colour = full if channels == 3 else decode_bytes(read_file(path), 3)
        except BadImage as exc:
            raise XaiError(f"--images: {path}: {exc}") from None
        views.append(model_view(full, resize, crop, interpolation))
        rgb, scale = drawn(colour)
        top, left, h, w = crop_box(full.shape[1], full.shape[2], resize, crop)
        photos.append(Photo(path, rgb, (round(top * scale), round(left * scale), max(1, round(h * scale)),
                                        max(1, round(w * scale)))))
    return torch.stack(views), photos
