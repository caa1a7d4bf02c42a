"""Tasks: what differs between run types (models, optimisers, the step, validation, extras)."""

from __future__ import annotations


def build_task(cfg, data, device, total_steps: int, graph_safe: bool = False):
    """The task for `cfg.model.name`: a classifier task, or a GAN task for GAN models."""
    from xaicli.models import model_kind

    kind = model_kind(cfg.model.name)
    if kind == "gan":
        from xaicli.tasks.gan import GanTask

        return GanTask(cfg, data, device, total_steps, graph_safe)
    from xaicli.tasks.classifier import ClassifierTask

    return ClassifierTask(cfg, data, device, total_steps, graph_safe)
