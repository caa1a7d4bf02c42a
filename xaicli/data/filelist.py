"""A dataset as lists of image files: the classes, the files of each split with their labels, where each
split came from, and the defects found while listing. Folders and CSV files are listed into one; the
held-out splits a dataset lacks are carved from its training files here, before anything is decoded."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from xaicli.data.decode import HEAD_BYTES, extension_format, sniff

SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


@dataclass
class Defect:
    """One problem in a dataset: its kind (a short name), the file or folder, and what is wrong."""

    kind: str
    path: str
    detail: str

    def line(self) -> str:
        return f"{self.kind}: {self.path}: {self.detail}"


@dataclass
class FileList:
    source: Path  # the folder or CSV file
    classes: list[str]  # index -> name
    splits: dict[str, list[tuple[str, int]]]  # train / val / test -> (path, label) in listing order
    roles: dict[str, str]  # split -> where its files come from, for meta.json and `xai data check`
    defects: list[Defect] = field(default_factory=list)  # found while listing (classes, rows)
    ignored: list[str] = field(default_factory=list)  # files that are not images, left out

    def labels(self, split: str) -> list[int]:
        return [label for _, label in self.splits.get(split, [])]

    def count(self) -> int:
        return sum(len(files) for files in self.splits.values())


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__")


def content_format(path: str | Path) -> str | None:
    """The image format of a file's content (None: not an image, or unreadable)."""
    try:
        with open(path, "rb") as fh:
            return sniff(fh.read(HEAD_BYTES))
    except OSError:
        return None


def image_files(folder: Path) -> tuple[list[str], list[str]]:
    """(images, other files) under `folder`, walked like torchvision's ImageFolder (recursively, folders
    sorted by path, files by name), hidden files and folders skipped. A file is an image when its
    extension says so or, for other extensions, when its content is an image."""
    found: list[tuple[str, list[str]]] = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not is_hidden(d)]
        found.append((root, sorted(f for f in files if not is_hidden(f))))
    images, others = [], []
    for root, files in sorted(found):
        for name in files:
            path = os.path.join(root, name)
            if extension_format(name) is not None or content_format(path) is not None:
                images.append(path)
            else:
                others.append(path)
    return images, others


def subfolders(folder: Path) -> list[str]:
    """Names of the visible sub-folders, sorted as ImageFolder sorts class names."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not is_hidden(e.name))


def class_defects(classes: list[str], found: dict[str, dict[str, int]], where: dict[str, str],
                  folders: bool = True) -> list[Defect]:
    """Classes missing from a split or present only there, and classes with no images, per split.
    `found`: split -> class -> image count; `where`: split -> the folder (`folders`) or file it comes from."""
    defects = []
    for split, counts in found.items():
        for name in sorted(set(classes) - set(counts)):
            defects.append(Defect("missing_class", f"{where[split]}", f"class '{name}' has no images in the "
                                  f"{split} split (every split must have the same classes)"))
        for name in sorted(set(counts) - set(classes)):
            defects.append(Defect("extra_class", f"{where[split]}", f"class '{name}' is in the {split} split but "
                                  f"not in train"))
        for name, n in sorted(counts.items()):
            if n == 0:
                defects.append(Defect("empty_class", f"{where[split]}/{name}" if folders else where[split],
                                      f"class '{name}' holds no image files"))
    return defects


def carve(files: FileList, val_split: float, test_split: float, seed: int, validation: bool) -> FileList:
    """Hold out the splits the dataset lacks from its training files, stratified and seeded: first the
    test split (`test_split` of each class), then the validation split (`val_split` of what is left,
    chosen exactly as ImageData.with_validation chooses it, so an image folder written from a tensor
    dataset validates on the same images). Then the training files are put in a fixed order drawn from
    `seed`, so that contiguous blocks of the decoded cache mix the classes."""
    import torch

    from xaicli.data.base import stratified_holdout

    splits, roles = dict(files.splits), dict(files.roles)
    for name, fraction, part_seed, wanted in (("test", test_split, seed * 1_000_003 + 17, True),
                                               ("val", val_split, seed, validation)):
        if name in splits or fraction <= 0 or not wanted:
            continue
        train = splits["train"]
        held = set(stratified_holdout(torch.tensor([lab for _, lab in train], dtype=torch.long), fraction,
                                      part_seed).tolist())
        splits[name] = [f for i, f in enumerate(train) if i in held]
        splits["train"] = [f for i, f in enumerate(train) if i not in held]
        roles[name] = f"{fraction:g} of {roles['train']} per class, seed {seed}"
    order = torch.randperm(len(splits["train"]), generator=torch.Generator().manual_seed(int(seed))).tolist()
    splits["train"] = [splits["train"][i] for i in order]
    return FileList(files.source, files.classes, splits, roles, files.defects, files.ignored)


def subset(files: list[tuple[str, int]], n: int, seed: int, keep_order: bool) -> list[tuple[str, int]]:
    """`n` files drawn with `seed` (all when n is 0 or too large); in listing order when `keep_order`
    (a test split: a random subset of every class), else the first n (the training order is random)."""
    if not n or n >= len(files):
        return files
    if not keep_order:
        return files[:n]
    import torch

    chosen = torch.randperm(len(files), generator=torch.Generator().manual_seed(int(seed) + 1))[:n]
    return [files[i] for i in sorted(chosen.tolist())]


def split_role(name: str) -> str | None:
    """'valid' -> 'val', 'Train' -> 'train', 'cats' -> None."""
    return SPLIT_ALIASES.get(name.lower())
