"""`xai eval` for classifiers: accuracy, NLL, calibration, per-class accuracy, confusion matrix."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """ECE with equal-width confidence bins: sum over bins of |accuracy - confidence| x bin weight."""
    conf, pred = probs.max(1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, bins + 1, device=probs.device)
    ece = torch.zeros((), device=probs.device)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            ece += in_bin.float().mean() * (correct[in_bin].mean() - conf[in_bin].mean()).abs()
    return float(ece)


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, class_names: list[str],
                           bins: int = 15) -> dict:
    logits, labels = logits.float().cpu(), labels.cpu()
    k = len(class_names)
    probs = logits.softmax(1)
    pred = probs.argmax(1)
    confusion = torch.bincount(labels * k + pred, minlength=k * k).view(k, k)
    support = confusion.sum(1)
    per_class = (confusion.diag().float() / support.clamp_min(1)).tolist()
    return {
        "accuracy": float((pred == labels).float().mean()),
        "loss": float(F.cross_entropy(logits, labels)),
        "ece": expected_calibration_error(probs, labels, bins),
        "images": int(len(labels)),
        "per_class_accuracy": {name: round(acc, 6) for name, acc in zip(class_names, per_class, strict=True)},
        "support": {name: int(s) for name, s in zip(class_names, support.tolist(), strict=True)},
        "confusion_matrix": confusion.tolist(),
        "class_names": class_names,
    }


def evaluate_classifier(restored, split: str | None = None) -> dict:
    """The metrics only: files (metrics.json, the confusion matrix plot) are xaicli/evaluation/command.py's."""
    cfg, task, data = restored.cfg, restored.task, restored.data
    split = split or cfg.eval.split
    x, y = data.split(split)
    logits = task.predict(x, y, cfg.data.eval_batch_size)
    metrics = {"run": str(restored.run_dir), "checkpoint": str(restored.checkpoint), "kind": "classifier",
               "model": cfg.model.name, "split": split, "epoch": restored.state.get("epoch"),
               **classification_metrics(logits, y, data.class_names, cfg.eval.ece_bins)}
    return metrics
