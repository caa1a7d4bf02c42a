"""The DATASETS registry (one module per dataset family, imported on first lookup) and load_dataset."""

from __future__ import annotations

from typing import Callable

from xaicli.registry import Registry

DATASETS: Registry[Callable] = Registry("dataset", modules=(
    "xaicli.data.mnist_family", "xaicli.data.cifar", "xaicli.data.synthetic"))


def load_dataset(cfg):
    """Build the dataset named by `cfg.data` (a DataConfig) and apply num_train / num_test."""
    builder = DATASETS.get(cfg.name, key="data.name")
    data = builder(root=cfg.root, source=cfg.source, num_train=cfg.num_train, num_test=cfg.num_test)
    return data.limit(cfg.num_train, cfg.num_test)
