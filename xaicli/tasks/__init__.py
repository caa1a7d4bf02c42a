"""Tasks: what differs between run kinds. The TASKS registry maps a kind (which every model declares
when it is registered) to its Task class, which says how such a run is trained, validated, evaluated,
sampled and explained. Adding a kind is one registration here; no other code asks which kind a run is.
"""

from __future__ import annotations

from xaicli.registry import Registry

TASKS = Registry("task", modules={"xaicli.tasks.classifier": ("classifier",), "xaicli.tasks.gan": ("gan",)})


def task_class(model_name: str):
    """The Task class that trains `model_name` (a ConfigError naming model.name when it is unknown)."""
    from xaicli.models import model_kind

    return TASKS.get(model_kind(model_name), key="model.name")


def build_task(cfg, data, device, total_steps: int, graph_safe: bool = False):
    """The task for `cfg.model.name`, built with its model(s), optimizers and schedules."""
    return task_class(cfg.model.name)(cfg, data, device, total_steps, graph_safe)
