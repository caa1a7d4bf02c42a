"""What a command on a run (eval, explain, sample) can be refused for from the run's own files, before
its data is loaded: the run's config says its kind and model, meta.json its classes and data source."""

from __future__ import annotations

import json
from pathlib import Path

from xaicli.errors import ConfigError
from xaicli.runs.layout import resolve_run


def run_config(run: str | Path):
    """(run directory, its Config) for RUN: a run directory or a checkpoint file inside one."""
    from xaicli import config as cfgmod

    run_dir, _ = resolve_run(run)
    return run_dir, cfgmod.load_run(run_dir)


def run_meta(run_dir: Path) -> dict:
    """meta.json of a run, or {} when it is missing or unreadable (an older or interrupted run)."""
    try:
        meta = json.loads((Path(run_dir) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def run_classes(run_dir: Path) -> list[str] | None:
    """The class names the run was trained with, when it recorded them."""
    classes = run_meta(run_dir).get("data", {}).get("classes")
    return [str(c) for c in classes] if isinstance(classes, list) else None


def check_classifier_run(source: str | Path, option: str) -> None:
    """`option` (--classifier, eval.classifier, ...) must name a run whose task classifies images."""
    from xaicli.tasks import task_class

    run_dir, cfg = run_config(source)
    task = task_class(cfg.model.name)
    if not task.classifies:
        raise ConfigError(f"{option} {source}: a {task.kind} run ('{cfg.model.name}'); expected a classifier run "
                          f"(for example one trained with configs/mnist_cnn.yaml)")


def check_eval_request(run: str | Path, classifier: str | None) -> None:
    """`xai eval RUN [--classifier CLF]`: the classifier option only where the run's task uses one."""
    from xaicli.tasks import task_class

    _, cfg = run_config(run)
    task = task_class(cfg.model.name)
    if classifier and not task.judged_by_classifier:
        raise ConfigError(f"--classifier: a {task.kind} run is evaluated on its own; --classifier applies to "
                          f"GAN runs, whose images a classifier run judges")
    source = classifier or (cfg.eval.classifier if task.judged_by_classifier else "")
    if source:
        check_classifier_run(source, "--classifier" if classifier else "eval.classifier")
