"""ImageData: a whole dataset as uint8 tensors, with what is needed to normalise and describe it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class ImageData:
    x_train: torch.Tensor  # uint8 (N, C, H, W)
    y_train: torch.Tensor  # int64 (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: tuple[float, ...]  # per channel, in [0, 1] units
    std: tuple[float, ...]
    class_names: list[str]
    provenance: dict = field(default_factory=dict)  # source, path, counts: goes to meta.json

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.x_train, self.y_train) if name == "train" else (self.x_test, self.y_test)

    def limit(self, num_train: int, num_test: int) -> ImageData:
        """Keep only the first N images of each split (0 keeps all)."""
        if num_train:
            self.x_train, self.y_train = self.x_train[:num_train], self.y_train[:num_train]
        if num_test:
            self.x_test, self.y_test = self.x_test[:num_test], self.y_test[:num_test]
        self.provenance.update(train_images=len(self.x_train), test_images=len(self.x_test))
        return self


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, in [0, 1] units."""
    xf = x[: 20000].float().div_(255)
    dims = (0, 2, 3)
    return tuple(xf.mean(dims).tolist()), tuple(xf.std(dims).clamp_min(1e-3).tolist())


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
