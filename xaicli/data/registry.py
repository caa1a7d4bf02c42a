"""The DATASETS registry (one module per dataset family, imported on first lookup) and load_dataset."""

from __future__ import annotations

from typing import Callable

from xaicli.registry import Registry

DATASETS: Registry[Callable] = Registry("dataset", modules={
    "xaicli.data.mnist_family": ("mnist", "fashion_mnist"),
    "xaicli.data.cifar": ("cifar10",),
    "xaicli.data.synthetic": ("synthetic",),
    "xaicli.data.folder": ("folder",),
    "xaicli.data.csv_list": ("csv",),
})


def load_dataset(cfg, validation: bool = True):
    """Build the dataset named by `cfg` (a DataConfig), apply num_train / num_test, then hold out the
    validation split (data.val_split) from what is left of the training split, for tasks that validate
    (`validation`; a GAN has no validation number and trains on every training image). Image size,
    channels and normalisation statistics follow data.image_size, data.channels, data.mean, data.std."""
    from xaicli.data.adapt import apply_settings
    from xaicli.errors import ConfigError

    if cfg.resize and cfg.resize < cfg.image_size:
        raise ConfigError(f"data.resize: {cfg.resize} is smaller than data.image_size {cfg.image_size}; the "
                          "centre crop is taken from the resized image (0: no separate resize)")
    builder = DATASETS.get(cfg.name, key="data.name")
    data = builder(root=cfg.root, source=cfg.source, num_train=cfg.num_train, num_test=cfg.num_test,
                   data_cfg=cfg, validation=validation)
    data = apply_settings(data.limit(cfg.num_train, cfg.num_test), cfg)
    return data.with_validation(cfg.val_split, cfg.split_seed) if validation else data


def load_run_data(cfg):
    """The data of a run's config (a Config): validation carved only when its task validates. For a model
    from elsewhere, the data settings the config leaves empty come from its weights (written into `cfg`, so
    the run's config records them) and index-only class names take the weights' names."""
    from xaicli.models.external.metadata import adopt_class_names, fill_data_settings
    from xaicli.tasks import task_class
    from xaicli.viz import console

    filled = fill_data_settings(cfg)
    if filled:
        console.info(f"{cfg.model.name} {cfg.model.weights}: from the weights' preprocessing: {', '.join(filled)}")
    data = load_dataset(cfg.data, validation=task_class(cfg.model.name).validates)
    adopted = adopt_class_names(cfg.model, data)
    if adopted:
        console.info(adopted)
    return data
