"""A listed dataset of image files (folder or CSV) -> ImageData, through the decode-once cache."""

from __future__ import annotations

import os

import torch

from xaicli.data.base import ImageData
from xaicli.data.cache import CachedSplit, cache_root, load_or_build
from xaicli.data.decode import BadImage, probe
from xaicli.data.filelist import FileList, carve, subset
from xaicli.errors import XaiError

MAX_AUTO_SIZE = 256  # data.image_size 0 takes the first image's shorter side, at most this
FATAL = ("missing_class", "extra_class", "empty_class")  # listing defects that stop training
RECORDED_BAD = 50  # skipped files listed in meta.json (all of them are counted)


def check_listing(files: FileList, skip_bad: bool) -> list[tuple[str, str]]:
    """Raise on the listing's defects (class problems always; bad CSV rows unless `skip_bad`); return the
    bad rows that are skipped."""
    fatal = [d for d in files.defects if d.kind in FATAL or not skip_bad]
    if fatal:
        more = f" and {len(fatal) - 1} more" if len(fatal) > 1 else ""
        raise XaiError(f"data.root {files.source}: {fatal[0].line()}{more} (xai data check {files.source} "
                       f"lists every problem)")
    return [(d.path, d.detail) for d in files.defects]


def image_geometry(files: list[tuple[str, int]], size: int, channels: int) -> tuple[int, int, str]:
    """(image size, channels, how they were chosen): the configured ones, else from the first training
    image that can be read (its shorter side, at most MAX_AUTO_SIZE; 1 channel when it is grayscale)."""
    if size and channels:
        return size, channels, "data.image_size, data.channels"
    for path, _ in files[:100]:
        try:
            h, w, gray = probe(path)
        except BadImage:
            continue
        chosen_size = size or min(h, w, MAX_AUTO_SIZE)
        chosen_channels = channels or (1 if gray else 3)
        return chosen_size, chosen_channels, f"from the first training image {path} ({w}x{h}, " \
                                              f"{'grayscale' if gray else 'colour'})"
    raise XaiError(f"none of the first {min(len(files), 100)} training images can be read; "
                   f"run xai data check on data.root")


def decode_workers(setting: int) -> int:
    if setting:
        return setting
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_file_dataset(files: FileList, data_cfg, validation: bool, name: str) -> ImageData:
    """Carve the missing splits, decode every split once (or open its cache) and describe the result."""
    if data_cfg is None:
        from xaicli.config import DataConfig

        data_cfg = DataConfig()
    cfg = data_cfg
    skipped = check_listing(files, cfg.skip_bad)
    files = carve(files, cfg.val_split, cfg.test_split, cfg.split_seed, validation)
    files.splits["train"] = subset(files.splits["train"], cfg.num_train, cfg.split_seed, keep_order=False)
    if "test" in files.splits:
        files.splits["test"] = subset(files.splits["test"], cfg.num_test, cfg.split_seed, keep_order=True)
    if not files.splits["train"]:
        raise XaiError(f"data.root {files.source}: no training images")
    size, channels, chosen = image_geometry(files.splits["train"], cfg.image_size, cfg.channels)
    root = cache_root(cfg.cache_dir)
    workers = decode_workers(cfg.workers)
    cached: dict[str, CachedSplit] = {
        split: load_or_build(split_files, size, channels, root, workers, f"{name} {split} split", cfg.resize)
        for split, split_files in files.splits.items() if split_files}
    bad = [b for split in cached.values() for b in split.bad]
    if bad and not cfg.skip_bad:
        raise XaiError(f"data.root {files.source}: {len(bad)} image file{'s' if len(bad) > 1 else ''} cannot be "
                       f"decoded; the first: {bad[0][0]} ({bad[0][1]}); fix or remove "
                       f"{'them' if len(bad) > 1 else 'it'}, or set data.skip_bad: true to leave them out "
                       f"(xai data check {files.source} lists them all)")
    skipped += bad
    if skipped:
        from xaicli.viz import console

        console.warn(f"data.skip_bad: left out {len(skipped)} unreadable file(s) or row(s), the first: "
                     f"{skipped[0][0]} ({skipped[0][1]}); meta.json lists them")
    empty = torch.zeros((0, channels, size, size), dtype=torch.uint8)
    none = torch.zeros(0, dtype=torch.long)

    def split(part: str) -> tuple[torch.Tensor, torch.Tensor]:
        return (cached[part].images, cached[part].labels) if part in cached else (empty, none)

    if not len(split("train")[1]):
        raise XaiError(f"data.root {files.source}: no training image could be decoded")
    mean, std = cached["train"].stats()
    provenance = {"dataset": name, "source": "local", "path": str(files.source), "image_size": size,
                  **({"resize": cfg.resize} if cfg.resize else {}),
                  "channels": channels, "geometry": chosen, "splits": files.roles,
                  "cache": {part: str(c.path.parent) for part, c in cached.items()},
                  "train_images": len(split("train")[1]), "test_images": len(split("test")[1]),
                  **({"val_images": len(split("val")[1])} if "val" in cached else {}),
                  **({"skipped": len(skipped), "skipped_files": [list(b) for b in skipped[:RECORDED_BAD]]}
                     if skipped else {})}
    x_val, y_val = split("val") if "val" in cached else (None, None)
    return ImageData(*split("train"), *split("test"), mean, std, list(files.classes), provenance, x_val, y_val,
                     cache_files={part: c.path for part, c in cached.items()})
