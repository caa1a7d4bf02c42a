"""What a training request can be refused for before any data is loaded or downloaded: the config and
the files say it all (an unknown model, model argument or dataset, a --run-dir that holds a run).
A refusal here takes about a second; after data loading it took 15 to 27 s."""

from __future__ import annotations

from pathlib import Path


def check_training_request(cfg, run_dir: str | Path | None = None, resume: str | Path | None = None) -> None:
    from xaicli.data.registry import DATASETS
    from xaicli.models import check_model_args
    from xaicli.runs.layout import check_new_run_dir
    from xaicli.tasks import task_class

    task_class(cfg.model.name)
    check_model_args(cfg.model.name, cfg.model.args)
    check_external_settings(cfg)
    DATASETS.get(cfg.data.name, key="data.name")
    if run_dir is not None and resume is None:
        check_new_run_dir(run_dir)


def check_external_settings(cfg) -> None:
    """model.weights, model.allow_download and train.freeze are for models from elsewhere."""
    from xaicli.errors import ConfigError
    from xaicli.models.external.spec import is_external

    if is_external(cfg.model.name):
        return
    settings = (("model.weights", cfg.model.weights, "none"), ("train.freeze", cfg.train.freeze, False))
    for key, value, default in settings:
        if value != default:
            raise ConfigError(f"{key}: {value!r} is for models from elsewhere (torchvision:NAME, timm:NAME, "
                              f"module.path:callable); model '{cfg.model.name}' is one of xai's own")
