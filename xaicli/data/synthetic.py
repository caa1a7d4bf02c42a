"""Deterministic synthetic images for smoke tests: learnable in a few steps, no files needed."""

from __future__ import annotations

import torch

from xaicli.data.base import ImageData, channel_stats
from xaicli.data.mnist_family import DIGITS
from xaicli.data.registry import DATASETS


@DATASETS.register("synthetic")
def synthetic(num_train: int = 0, num_test: int = 0, seed: int = 0, **_) -> ImageData:
    """Deterministic 1x28x28 images: a fixed random blob per class plus noise; learnable in a few steps."""
    n_train, n_test = num_train or 1024, num_test or 256
    g = torch.Generator().manual_seed(1234)
    templates = torch.rand(10, 1, 7, 7, generator=g)
    templates = torch.nn.functional.interpolate(templates, size=(28, 28), mode="bilinear", align_corners=False)

    def make(n: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        gg = torch.Generator().manual_seed(1000 + offset)
        y = torch.arange(n) % 10
        y = y[torch.randperm(n, generator=gg)]
        x = templates[y] + 0.15 * torch.randn(n, 1, 28, 28, generator=gg)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), y

    x_train, y_train = make(n_train, 0)
    x_test, y_test = make(n_test, 1)
    mean, std = channel_stats(x_train)
    return ImageData(x_train, y_train, x_test, y_test, mean, std, DIGITS,
                     {"dataset": "synthetic", "source": "generated", "train_images": n_train,
                      "test_images": n_test})
