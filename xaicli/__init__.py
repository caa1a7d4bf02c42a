"""xai: train, evaluate, sample and explain PyTorch image models from one command line or from Python.

    import xaicli
    cfg = xaicli.load_config("configs/smoke_cnn.yaml", ["train.epochs=1"])
    run = xaicli.train(cfg)                        # the run directory (a pathlib.Path)
    metrics = xaicli.evaluate(run)                  # {"accuracy": ..., "ece": ..., ...}
    folder = xaicli.explain(run, methods=["saliency"], n=4)
    maps = xaicli.attribute(model, images, target=3, method="integrated_gradients", n_steps=32)

Functions (see xaicli.api): load_config, train, restore, evaluate, sample, explain, attribute,
registries, check_data; for many runs: list_runs, compare_runs, sweep, export_run. Errors: xaicli.XaiError
(exit code 1 on the command line) and xaicli.ConfigError (2).
Nothing here imports torch until a function runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xaicli.errors import ConfigError, XaiError
from xaicli.version import __version__

__all__ = ["ConfigError", "XaiError", "__version__", "attribute", "check_data", "compare_runs", "evaluate", "explain",
           "export_run", "list_runs", "load_config", "registries", "restore", "sample", "sweep", "train"]
_API = ("attribute", "check_data", "compare_runs", "evaluate", "explain", "export_run", "list_runs", "load_config",
        "registries", "restore", "sample", "sweep", "train")

if TYPE_CHECKING:  # pragma: no cover
    from xaicli.api import (
        attribute,
        check_data,
        compare_runs,
        evaluate,
        explain,
        export_run,
        list_runs,
        load_config,
        registries,
        restore,
        sample,
        sweep,
        train,
    )


def __getattr__(name: str) -> Any:
    if name in _API:
        from xaicli import api

        return getattr(api, name)
    raise AttributeError(f"module 'xaicli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
