"""`xai eval RUN`: restore the run, let its task evaluate it, write RUN/eval/metrics.json."""

from __future__ import annotations

import json

from xaicli.runs.files import write_json
from xaicli.runs.layout import safe_child
from xaicli.runs.meta import now
from xaicli.tracking.results import log_evaluation


def run_eval(run: str, checkpoint: str = "last", split: str | None = None, classifier: str | None = None,
             data_source: str | None = None) -> dict:
    """Evaluate a run (a directory, or a checkpoint inside one); return the metrics it wrote to
    RUN/eval/metrics.json (the latest evaluation) and appended to RUN/eval/history.jsonl (all of them)."""
    from xaicli.runs.preflight import check_eval_request
    from xaicli.runs.restore import restore

    check_eval_request(run, classifier)
    restored = restore(run, checkpoint, data_source=data_source)
    metrics = restored.task.evaluate(restored, split, classifier)
    provenance = restored.data.provenance if restored.data is not None else {}
    metrics["data"] = {k: provenance[k] for k in ("dataset", "source", "path") if k in provenance}
    metrics["created"] = now()
    written = [safe_child(restored.run_dir, "eval/metrics.json"), safe_child(restored.run_dir, "eval/history.jsonl")]
    metrics["files"] = [str(p) for p in written] + [v for k, v in metrics.items() if k.endswith("_png")]
    write_json(written[0], metrics)
    append_history(written[1], metrics)
    log_evaluation(restored.run_dir, metrics)  # into train.loggers' trackers, when the run has any
    return metrics


def eval_summary(metrics: dict) -> tuple[list[str], list[str]]:
    """Console lines before the table (the verdict of a GAN, warnings) and after it (what was evaluated on
    which images, the files written)."""
    head = [metrics["verdict"]] if metrics.get("verdict") else []
    head += [f"warning: {w}" for w in metrics.get("warnings", [])]
    data = metrics.get("data", {})
    on = f" on the {metrics['split']} split" if metrics.get("split") else ""
    tail = [f"evaluated {metrics.get('checkpoint')} (epoch {metrics.get('epoch')}){on}: "
            f"{metrics.get('images')} images of {data.get('dataset', '?')} ({data.get('source', '?')})",
            "wrote " + ", ".join(metrics.get("files", []))]
    return head, tail


def append_history(path, metrics: dict) -> None:
    """One line per evaluation, so an eval with another checkpoint, split or data replaces metrics.json
    (the latest) but loses nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(metrics, default=str) + "\n")
