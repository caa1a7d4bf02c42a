"""Maps drawn on the user's photos: at the photo's own resolution and in its colour, the map stretched over
the box the model saw (photos.Photo.box) and the rest of the photo dimmed, since the model never saw it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from xaicli.explain.photos import Photo
from xaicli.explain.render import MAGNITUDE_CMAP, SIGNED_CMAP, normalise, plt, to_2d

OUTSIDE = 0.35  # brightness of the parts of a photo the model's input does not cover
OPACITY = 0.8  # the heat's opacity where the map is strongest
GRID_SIDE = 256  # pixels on the longer side of a photo in the comparison grid


def stretched(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """A 2-D map resized bilinearly to (height, width)."""
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]
    return torch.nn.functional.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)[0, 0].numpy()


def on_photo(photo: Photo, attr: np.ndarray, signed: bool) -> np.ndarray:
    """(H, W, 3) floats in [0, 1]: the photo in colour with the map over the box the model saw."""
    base = photo.rgb.astype(np.float64) / 255
    top, left, h, w = photo.box
    a = normalise(to_2d(attr), signed)
    frame = np.zeros(base.shape[:2])
    inside = np.zeros(base.shape[:2], dtype=bool)
    bottom, right = min(top + h, base.shape[0]), min(left + w, base.shape[1])
    frame[top:bottom, left:right] = stretched(a, h, w)[:bottom - top, :right - left]
    inside[top:bottom, left:right] = True
    cmap = plt.get_cmap(SIGNED_CMAP if signed else MAGNITUDE_CMAP)
    heat = cmap((frame + 1) / 2 if signed else frame)[..., :3]
    alpha = (np.clip(np.abs(frame), 0, 1) * OPACITY * inside)[..., None]
    shown = np.where(inside[..., None], base, base * OUTSIDE)
    return np.clip((1 - alpha) * shown + alpha * heat, 0, 1)


def save_photo_overlay(path: Path, photo: Photo, attr: np.ndarray, signed: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, on_photo(photo, attr, signed))


def save_photo(path: Path, photo: Photo) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, photo.rgb)


def thumbnail(photo: Photo, side: int = GRID_SIDE) -> Photo:
    """The photo scaled down to `side` pixels on its longer side (box scaled alike), for the grid."""
    scale = min(1.0, side / max(photo.rgb.shape[:2]))
    if scale == 1.0:
        return photo
    h, w = (max(1, round(s * scale)) for s in photo.rgb.shape[:2])
    t = torch.from_numpy(photo.rgb).permute(2, 0, 1)[None].float()
    rgb = torch.nn.functional.interpolate(t, size=(h, w), mode="area")[0].permute(1, 2, 0).round().clamp(0, 255)
    top, left, bh, bw = photo.box
    return Photo(photo.path, rgb.to(torch.uint8).numpy(), (round(top * scale), round(left * scale),
                                                             max(1, round(bh * scale)), max(1, round(bw * scale))))


def grid_panels(photos: list[Photo], maps: dict[str, np.ndarray], signed: dict[str, bool]) -> list[list[np.ndarray]]:
    """Per photo: the photo, then each method's map on it, scaled down for the comparison grid."""
    panels = []
    for i, photo in enumerate(photos):
        small = thumbnail(photo)
        panels.append([small.rgb.astype(np.float64) / 255] + [on_photo(small, maps[n][i], signed[n]) for n in maps])
    return panels
