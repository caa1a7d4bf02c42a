"""`xai eval RUN`: restore the run, let its task evaluate it, write RUN/eval/metrics.json."""

from __future__ import annotations

from xaicli.runs.files import write_json
from xaicli.runs.layout import safe_child


def run_eval(run: str, checkpoint: str = "last", split: str | None = None, classifier: str | None = None) -> dict:
    """Evaluate a run (a directory, or a checkpoint inside one); return the metrics it wrote."""
    from xaicli.runs.restore import restore

    restored = restore(run, checkpoint)
    metrics = restored.task.evaluate(restored, split, classifier)
    write_json(safe_child(restored.run_dir, "eval/metrics.json"), metrics)
    return metrics
