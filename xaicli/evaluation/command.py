"""`xai eval RUN`: dispatch by run type, write RUN/eval/metrics.json, build the Rich table."""

from __future__ import annotations

from xaicli.runs.files import write_json
from xaicli.runs.layout import safe_child


def run_eval(run: str, checkpoint: str, split: str | None, classifier: str | None):
    from xaicli.runs.restore import restore

    restored = restore(run, checkpoint)
    if restored.task.kind == "gan":
        from xaicli.evaluation.gan import evaluate_gan

        metrics = evaluate_gan(restored, classifier)
    else:
        from xaicli.evaluation.classifier import evaluate_classifier

        metrics = evaluate_classifier(restored, split)
    write_json(safe_child(restored.run_dir, "eval/metrics.json"), metrics)
    return metrics, metrics_table(metrics)


def metrics_table(metrics: dict):
    """Scalars in one table; per-class accuracy as its own rows."""
    from rich.table import Table

    table = Table(title=f"{metrics.get('model')} - {metrics.get('run')}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, bool) or key in ("run", "model", "checkpoint"):
            continue
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif isinstance(value, (int, str)) and key not in ("confusion_matrix_png",):
            table.add_row(key, str(value))
    for name, acc in (metrics.get("per_class_accuracy") or {}).items():
        table.add_row(f"accuracy[{name}]", f"{acc:.4f}")
    return table
