"""Rebuild a trained run from its directory: config, data, task and weights from a checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xaicli import config as cfgmod
from xaicli.runs.checkpoint import read_checkpoint
from xaicli.runs.classes import check_classes, read_classes
from xaicli.runs.layout import check_run_links, pick_checkpoint, resolve_run


@dataclass
class Restored:
    run_dir: Path
    checkpoint: Path
    cfg: object
    data: object
    task: object
    state: dict
    sha256: str = ""  # of the checkpoint bytes that were loaded


def restore(target: str | Path, checkpoint: str | None = None, device: str | None = None,
            load_data: bool = True, data_source: str | None = None) -> Restored:
    """Load RUN (a run directory or a checkpoint inside one) ready for evaluation, in eval mode, with the
    data it was trained on (xaicli/runs/data_source.py; `data_source` chooses another)."""
    from xaicli.tasks import build_task
    from xaicli.training.checkpointer import check_compatible, check_finite_weights, check_run_config
    from xaicli.training.device import resolve_device

    run_dir, ckpt_in_target = resolve_run(target)
    check_run_links(run_dir)
    cfg = cfgmod.load_run(run_dir)
    ckpt = ckpt_in_target or pick_checkpoint(run_dir, checkpoint)
    dev = resolve_device(device or cfg.train.device)
    state, digest = read_checkpoint(ckpt, map_location=dev)
    data = load_run_data(cfg, run_dir, data_source) if load_data else None
    recorded = read_classes(run_dir)
    if data is not None and recorded is not None:
        data.class_names = check_classes(run_dir, recorded, data.class_names)
    cfg.train.compile = False  # evaluation runs eagerly
    task = build_task(architecture_only(cfg), data, dev, total_steps=1)
    warn_if_module_changed(run_dir, task)
    check_compatible(state, cfg, task, ckpt)
    check_run_config(state, cfg, ckpt, run_dir)
    check_finite_weights(state, ckpt)
    task.load_state_dict(state, weights_only=True)
    task.train(False)
    return Restored(run_dir, ckpt, cfg, data, task, state, digest)


def warn_if_module_changed(run_dir: Path, task) -> None:
    """A user module (module.path:callable) whose file differs from the one training recorded: one warning."""
    from xaicli.models.external.for_task import module_change
    from xaicli.runs.preflight import run_meta
    from xaicli.viz import console

    change = module_change(run_meta(run_dir).get("external_model") or {}, task.model_provenance())
    if change:
        console.warn(change)


def architecture_only(cfg):
    """The run's config without external weights (they come from the checkpoint) and without freezing
    (evaluation and explanation train nothing)."""
    from xaicli.models.external.for_task import without_weights

    built = without_weights(cfg)
    built.train.freeze = False
    return built


def load_run_data(cfg, run_dir: Path, data_source: str | None):
    """The run's data as its meta.json recorded it (a copy of the config points there; the run's config,
    which must stay as training wrote it, is not changed)."""
    import copy

    from xaicli.runs.data_source import load_pinned, pin

    pinned = copy.deepcopy(cfg)
    return load_pinned(pinned, pin(pinned, run_dir, data_source))
