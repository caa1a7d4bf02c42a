"""Every registry by its `xai list` name."""

from __future__ import annotations


def registries() -> dict[str, list[str]]:
    from xaicli.data.registry import DATASETS
    from xaicli.models import MODELS

    regs = {"models": MODELS.names(), "datasets": DATASETS.names()}
    try:
        from xaicli.explain.registry import METHODS

        regs["methods"] = METHODS.names()
    except ImportError:
        regs["methods"] = []
    return regs
