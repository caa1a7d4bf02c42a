"""`xai eval RUN`: restore the run with the data it was trained on, let its task evaluate it, and write
RUN/eval/metrics.json (the latest evaluation), RUN/eval/history.jsonl (every one) and the confusion
matrix plot, or the same files into `--out DIR`."""

from __future__ import annotations

import json
import math
from pathlib import Path

from xaicli.errors import XaiError
from xaicli.runs.files import open_append, write_json
from xaicli.runs.layout import new_output_dir, safe_child
from xaicli.runs.meta import now
from xaicli.tracking.results import log_evaluation


def run_eval(run: str, checkpoint: str = "last", split: str | None = None, classifier: str | None = None,
             data_source: str | None = None, out: str | None = None, must_write: bool = True) -> dict:
    """Evaluate a run (a directory, or a checkpoint inside one); return the metrics it wrote. Nothing is
    written before the metrics are computed; with `must_write` False (`--json`), a run that cannot be
    written to (read-only) gets a warning instead of an error."""
    from xaicli.runs.preflight import check_eval_request
    from xaicli.runs.restore import restore
    from xaicli.viz import console

    check_eval_request(run, classifier)
    restored = restore(run, checkpoint, data_source=data_source)
    metrics = restored.task.evaluate(restored, split, classifier)
    provenance = restored.data.provenance if restored.data is not None else {}
    metrics["data"] = {k: provenance[k] for k in ("dataset", "source", "path") if k in provenance}
    metrics["created"] = now()
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
        metrics["files"] = []
    else:
        if out is None:  # an evaluation kept in the run goes into train.loggers' trackers, when it has any
            log_evaluation(restored.run_dir, metrics)
    return metrics


def write_eval(run_dir: Path, metrics: dict, out: str | None) -> None:
    """metrics.json and history.jsonl (and confusion_matrix.png for classifiers) into RUN/eval and RUN/plots,
    or into `out`; `metrics["files"]` lists them."""
    folder = new_output_dir(run_dir, "eval", out) if out is not None else None
    target = folder / "metrics.json" if folder else safe_child(run_dir, "eval/metrics.json")
    history = folder / "history.jsonl" if folder else safe_child(run_dir, "eval/history.jsonl")
    metrics["files"] = [str(target), str(history)]
    if "confusion_matrix" in metrics and metrics.get("class_names"):
        from xaicli.viz.plots import confusion_matrix

        png = folder / "confusion_matrix.png" if folder else safe_child(run_dir, "plots/confusion_matrix.png")
        confusion_matrix(metrics["confusion_matrix"], metrics["class_names"], png)
        metrics["confusion_matrix_png"] = str(png)
        metrics["files"].append(str(png))
    write_json(target, metrics)
    append_history(history, metrics)


def append_history(path: Path, metrics: dict) -> None:
    """One line per evaluation, so an eval with another checkpoint, split or data replaces metrics.json
    (the latest) but loses nothing."""
    with open_append(path) as fh:
        fh.write(json.dumps(metrics, default=str) + "\n")


def eval_summary(metrics: dict) -> tuple[list[str], list[str]]:
    """Console lines before the table (the verdict of a GAN, warnings) and after it (what was evaluated on
    which images, the files written)."""
    head = [metrics["verdict"]] if metrics.get("verdict") else []
    head += [f"warning: {w}" for w in metrics.get("warnings", [])]
    data = metrics.get("data", {})
    on = f" on the {metrics['split']} split" if metrics.get("split") else ""
    tail = [f"evaluated {metrics.get('checkpoint')} (epoch {metrics.get('epoch')}){on}: "
            f"{metrics.get('images')} images of {data.get('dataset', '?')} ({data.get('source', '?')})"]
    if metrics.get("files"):
        tail.append("wrote " + ", ".join(metrics["files"]))
    return head, tail
