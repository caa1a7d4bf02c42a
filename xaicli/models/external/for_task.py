"""An external model for a training run or a restored one: built for the data's class count, its notes
logged, the backbone frozen when train.freeze asks. A restored run's weights come from its checkpoint."""

from __future__ import annotations

from xaicli.errors import ConfigError
from xaicli.models.external import ExternalModel, build_external


def build_for_run(cfg, data) -> ExternalModel:
    """The model cfg.model names, with data.num_classes outputs, its notes logged. A restore builds it from
    a copy of the config with weights none (xaicli/runs/restore.py) and loads the run's checkpoint after."""
    from xaicli.models.external.heads import freeze_all_but
    from xaicli.viz import console

    m = cfg.model
    ext = build_external(m.name, m.weights, allow_download=m.allow_download, num_classes=data.num_classes,
                         args=m.args, code_dir=m.code_dir or None, input_shape=tuple(data.shape))
    for note in ext.notes:
        console.info(f"{m.name}: {note}")
    if cfg.train.freeze:
        if ext.head is None:
            raise ConfigError(f"train.freeze: {m.name} has no classifier layer that xai can find (a Linear under "
                              "fc, classifier, heads or head); train it whole (train.freeze: false)")
        trainable, total = freeze_all_but(ext.model, ext.head)
        console.info(f"train.freeze: {trainable:,} of {total:,} parameters train (the head {ext.head})")
    return ext


def without_weights(cfg):
    """A copy of a run's config that builds its model with weights none: an external model's weights then
    come from the run's checkpoint, never from the hub or the original weights file (restores and resumes
    stay offline and do not need that file any more)."""
    import copy

    built = copy.deepcopy(cfg)
    built.model.weights = "none"
    built.model.allow_download = False
    return built


def module_change(recorded: dict, now: dict) -> str | None:
    """A line when the user module's file now has another sha256 than meta.json recorded at training."""
    before, after = recorded.get("module_sha256"), (now.get("external_model") or {}).get("module_sha256")
    if before and after and before != after:
        return (f"model.name: {now['external_model'].get('module_file')} changed since the run was trained "
                f"(sha256 {after[:12]}, recorded {before[:12]}); the model is built from the file as it is now")
    return None


def provenance(ext: ExternalModel, model_cfg) -> dict:
    """What meta.json records about an external model: its weights, head and the user module's file."""
    out = {"weights": model_cfg.weights, "head": ext.head, "notes": list(ext.notes)}
    if ext.source_file:
        out.update(module_file=ext.source_file, module_sha256=ext.source_sha256)
    return out
