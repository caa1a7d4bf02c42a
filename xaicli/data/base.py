"""ImageData: a whole dataset as uint8 tensors, with what is needed to normalise and describe it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

SPLITS = ("train", "val", "test")


@dataclass
class ImageData:
    """Splits: train (what the optimizer sees), val (model selection: best.pt) and test (xai eval only)."""

    x_train: torch.Tensor  # uint8 (N, C, H, W)
    y_train: torch.Tensor  # int64 (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: tuple[float, ...]  # per channel, in [0, 1] units
    std: tuple[float, ...]
    class_names: list[str]
    provenance: dict = field(default_factory=dict)  # source, path, counts: goes to meta.json
    x_val: torch.Tensor | None = None  # None: no validation split (yet); see with_validation
    y_val: torch.Tensor | None = None
    cache_files: dict = field(default_factory=dict)  # split -> decoded-cache .npy behind it (folder, csv)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name == "train":
            return self.x_train, self.y_train
        if name == "test":
            return self.x_test, self.y_test
        if name == "val":
            if self.x_val is None or self.y_val is None:
                return self.x_train[:0], self.y_train[:0]
            return self.x_val, self.y_val
        raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")

    def limit(self, num_train: int, num_test: int) -> ImageData:
        """Keep only the first N images of each split (0 keeps all)."""
        if num_train:
            self.x_train, self.y_train = self.x_train[:num_train], self.y_train[:num_train]
        if num_test:
            self.x_test, self.y_test = self.x_test[:num_test], self.y_test[:num_test]
        self.provenance.update(train_images=len(self.x_train), test_images=len(self.x_test))
        return self

    def with_validation(self, fraction: float, seed: int) -> ImageData:
        """Hold out `fraction` of each class of the training split (at least one image of every class
        with two or more), chosen with `seed`, as the validation split; the rest stays training data,
        in its order. A dataset that brought its own validation split keeps it."""
        if self.x_val is not None or fraction <= 0:
            return self
        held = stratified_holdout(self.y_train, fraction, seed)
        keep = torch.ones(len(self.y_train), dtype=torch.bool)
        keep[held] = False
        self.x_val, self.y_val = self.x_train[held], self.y_train[held]
        self.x_train, self.y_train = self.x_train[keep], self.y_train[keep]
        self.provenance.update(train_images=len(self.x_train), val_images=len(self.x_val),
                               val_split=f"{fraction:g} of the training images per class, seed {seed}")
        return self


def split_counts(data: ImageData) -> str:
    """'3,600 train / 400 val / 1,000 test' for a log line."""
    return " / ".join(f"{len(data.split(name)[1]):,} {name}" for name in SPLITS if len(data.split(name)[1]))


def stratified_holdout(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices of round(fraction x n_c) images of each class c (at least 1 when n_c >= 2)."""
    g = torch.Generator().manual_seed(int(seed))
    chosen = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        k = int(round(fraction * len(members)))
        k = max(k, 1) if len(members) >= 2 else 0
        chosen.append(members[torch.randperm(len(members), generator=g)[:k]])
    return torch.cat(chosen).sort().values if chosen else torch.zeros(0, dtype=torch.long)


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, in [0, 1] units."""
    xf = x[: 20000].float().div_(255)
    dims = (0, 2, 3)
    return tuple(xf.mean(dims).tolist()), tuple(xf.std(dims).clamp_min(1e-3).tolist())


def mean_image(x: torch.Tensor, limit: int = 20000, chunk: int = 1000) -> torch.Tensor:
    """The mean of the first `limit` uint8 images as a float (1, C, H, W), summed a chunk at a time so
    that large images never need a float copy of the whole set."""
    n = min(len(x), limit)
    total = torch.zeros(x.shape[1:], dtype=torch.float64)
    for i in range(0, n, chunk):
        total += x[i:min(i + chunk, n)].to(torch.float64).sum(0)
    return (total / max(n, 1)).float().unsqueeze(0)


def from_arrays(arrays: dict[str, np.ndarray], class_names: list[str], provenance: dict) -> ImageData:
    def images(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.array(a, dtype=np.uint8))  # a writable copy
        return t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(a, dtype=np.int64))

    x_train, x_test = images(arrays["x_train"]), images(arrays["x_test"])
    mean, std = channel_stats(x_train)
    provenance = {**provenance, "train_images": len(x_train), "test_images": len(x_test)}
    return ImageData(x_train, labels(arrays["y_train"]), x_test, labels(arrays["y_test"]), mean, std,
                     class_names, provenance)
