"""`xai eval RUN`: restore the run, let its task evaluate it, write RUN/eval/metrics.json (and the
confusion matrix plot), or the same files into `--out DIR`."""

from __future__ import annotations

import math
from pathlib import Path

from xaicli.errors import XaiError
from xaicli.runs.files import write_json
from xaicli.runs.layout import new_output_dir, safe_child


def run_eval(run: str, checkpoint: str = "last", split: str | None = None, classifier: str | None = None,
             out: str | None = None, must_write: bool = True) -> dict:
    """Evaluate a run (a directory, or a checkpoint inside one); return the metrics it wrote. Nothing is
    written before the metrics are computed; with `must_write` False (`--json`), a run that cannot be
    written to (read-only) gets a warning instead of an error."""
    from xaicli.runs.restore import restore
    from xaicli.viz import console

    restored = restore(run, checkpoint)
    metrics = restored.task.evaluate(restored, split, classifier)
    bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        console.warn(f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not finite: the model's outputs "
                     f"overflow or are NaN on these images")
    try:
        write_eval(restored.run_dir, metrics, out)
    except OSError as exc:
        where = exc.filename or (out or restored.run_dir)
        message = f"could not write {where} ({exc.strerror or exc})"
        if must_write:
            raise XaiError(f"{message}; write the results elsewhere with --out DIR, or print them only "
                           f"with --json") from None
        console.warn(f"{message}; the metrics are printed only")
    return metrics


def write_eval(run_dir: Path, metrics: dict, out: str | None) -> None:
    """metrics.json (and confusion_matrix.png for classifiers) into RUN/eval and RUN/plots, or into `out`."""
    folder = new_output_dir(run_dir, "eval", out) if out is not None else None
    if "confusion_matrix" in metrics and metrics.get("class_names"):
        from xaicli.viz.plots import confusion_matrix

        png = folder / "confusion_matrix.png" if folder else safe_child(run_dir, "plots/confusion_matrix.png")
        confusion_matrix(metrics["confusion_matrix"], metrics["class_names"], png)
        metrics["confusion_matrix_png"] = str(png)
    write_json(folder / "metrics.json" if folder else safe_child(run_dir, "eval/metrics.json"), metrics)
