"""The data settings every dataset honours: data.image_size and data.channels (in-memory datasets are
converted here; folder and CSV data are decoded at that geometry already) and given normalisation
statistics (data.mean, data.std); the statistics used are recorded in the provenance (meta.json)."""

from __future__ import annotations

import torch

from xaicli.data.base import ImageData, channel_stats
from xaicli.errors import ConfigError


def convert(x: torch.Tensor, size: int, channels: int, chunk: int = 2048, resize_to: int = 0) -> torch.Tensor:
    """uint8 (N, C, H, W) -> (N, channels, size, size): torchvision's Resize(resize_to or size) + CenterCrop,
    and grayscale
    (ITU-R 601 luma, as torchvision's rgb_to_grayscale) or replicated channels."""
    from torchvision.transforms.v2.functional import center_crop, resize, rgb_to_grayscale

    out = []
    for i in range(0, len(x), chunk):
        part = x[i:i + chunk]
        if part.shape[1] != channels:
            part = rgb_to_grayscale(part) if channels == 1 else part.expand(-1, 3, -1, -1)
        if tuple(part.shape[-2:]) != (size, size) or resize_to:
            part = center_crop(resize(part, [resize_to or size], antialias=True), [size, size])
        out.append(part.contiguous())
    return torch.cat(out) if out else x.new_zeros((0, channels, size, size))


def _given(values: list, channels: int, key: str) -> tuple[float, ...]:
    if len(values) not in (1, channels):
        raise ConfigError(f"{key}: expected 1 or {channels} numbers (one per channel), found {values!r}")
    return tuple(float(v) for v in values) * (channels if len(values) == 1 else 1)


def apply_settings(data: ImageData, cfg) -> ImageData:
    """Convert an in-memory dataset to data.image_size / data.channels, then set the statistics."""
    c, h, w = data.shape
    size, channels = cfg.image_size or 0, cfg.channels or c
    resized = bool(cfg.resize) and not data.cache_files  # folder/csv data were decoded at data.resize already
    if (size and (h, w) != (size, size)) or channels != c or resized:
        if data.cache_files:
            raise ConfigError(f"data.image_size / data.channels: {data.provenance.get('dataset')} data cannot be "
                              f"converted after decoding")
        size = size or min(h, w)
        for split in ("train", "val", "test"):
            x = getattr(data, f"x_{split}")
            if x is not None:
                setattr(data, f"x_{split}", convert(x, size, channels, resize_to=cfg.resize))
        data.mean, data.std = channel_stats(data.x_train)
        data.provenance.update(image_size=size, channels=channels, **({"resize": cfg.resize} if cfg.resize else {}))
    c = data.shape[0]
    if cfg.mean:
        data.mean = _given(cfg.mean, c, "data.mean")
    if cfg.std:
        data.std = _given(cfg.std, c, "data.std")
    data.provenance.update(mean=[round(m, 6) for m in data.mean], std=[round(s, 6) for s in data.std],
                           stats="data.mean, data.std" if cfg.mean or cfg.std else "computed from the training split")
    return data
