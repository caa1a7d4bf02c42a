"""Explain one batch with several methods, measure each (measures.active: the chosen measures of
measures.MEASURES), measure the random-attribution reference the same way, build the scorecard and
write the section's files: `<method>/<idx>.png`, attributions.npz, grid.png, curves.png,
metrics.json, metrics.csv and agreement.csv."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from xaicli.errors import ConfigError
from xaicli.explain import measures, render, render_photos
from xaicli.explain.arrays import NpzWriter
from xaicli.explain.measures.base import Context, Settings
from xaicli.explain.measures.reference import NAME as RANDOM
from xaicli.explain.measures.reference import RANDOM as RANDOM_METHOD
from xaicli.explain.registry import Method
from xaicli.explain.scorecard import card, text
from xaicli.runs.files import atomic_write_text, write_json


@dataclass
class Batch:
    """What one section explains: the model (inputs -> scores), its inputs and how to score them."""

    model: nn.Module
    inputs: torch.Tensor  # model inputs (N, C, H, W) on the device
    display: np.ndarray  # the same images in [0, 1] for drawing
    target: torch.Tensor | None  # (N,) classes explained
    indices: list[int]  # file names of the overlays (dataset indices, or sample numbers)
    row_labels: list[str]  # grid labels: prediction and score
    fill: float  # the "removed pixel" value for deletion and insertion (model-input units)
    score: str = "softmax"  # probability of the target: softmax over classes, or sigmoid of one logit
    params: dict = field(default_factory=dict)  # method parameters (baseline, n_steps, input_range, ...)
    layer: dict = field(default_factory=dict)  # the layer class activation maps read: name, and how chosen
    photos: list | None = None  # photos.Photo per image: maps drawn on the user's photos, not on `display`
    predictions: list = field(default_factory=list)  # per image: its top classes [[name, probability], ...]


def folder_name(method: str) -> str:
    return method.replace(":", "_").replace("/", "_")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def call_params(method: Method, batch: Batch, settings: Settings) -> dict:
    return method.accepts({**batch.params, "seed": settings.seed, "budget_mb": settings.budget_mb})


def run_measures(method: Method, batch: Batch, settings: Settings) -> tuple[torch.Tensor, dict]:
    """Run one method (timed), then every active measure on its maps."""
    params = call_params(method, batch, settings)
    _sync(batch.inputs.device)
    t0 = time.perf_counter()
    maps = method(batch.model, batch.inputs, batch.target, **params).detach()
    _sync(batch.inputs.device)
    context = Context(method, batch.model, batch.inputs, maps, batch.target, batch.fill, batch.score, params,
                      settings, time.perf_counter() - t0)
    metrics: dict = {"signed": method.signed}
    for each in measures.active(settings):
        found = each(context)
        metrics.setdefault("per_image", {}).update(found.pop("per_image", {}))
        metrics.update(found)
    return maps, metrics


def csv_text(rows: dict[str, dict], cols) -> str:
    """One row per method and one for the random reference; a scored column has its interval's
    bounds beside it (`<name>_lo`, `<name>_hi`); then the rank averaged over the ranked measures."""
    fields = ["method"]
    for c in cols:
        fields += [c.name, f"{c.name}_lo", f"{c.name}_hi"] if c.scored else [c.name]
    fields += ["mean_rank", "mean_rank_lo", "mean_rank_hi"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for name, m in rows.items():
        row = {"method": name, **{c.name: c.cell(m) for c in cols}}
        for c in cols:
            if c.scored:
                row[f"{c.name}_lo"], row[f"{c.name}_hi"] = m.get("intervals", {}).get(c.name, ["", ""])
        rank = m.get("rank", {})
        row.update(mean_rank=rank.get("mean_rank"), mean_rank_lo=rank.get("lo"), mean_rank_hi=rank.get("hi"))
        writer.writerow(row)
    return buf.getvalue()


def agreement_csv(agreement: dict) -> str:
    """The agreement between measures as a square table, the measures' names as header and first column."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["measure", *agreement["measures"]])
    for name, row in zip(agreement["measures"], agreement["spearman"], strict=True):
        writer.writerow([name, *("" if v is None else v for v in row)])
    return buf.getvalue()


def scorecard(results: dict[str, dict], batch: Batch, settings: Settings, log=None) -> tuple[dict, dict]:
    """The random reference measured like a method, and the scorecard of the section's rows."""
    if log:
        log(f"explain: the random reference on {len(batch.inputs)} images")
    _, reference = run_measures(RANDOM_METHOD, batch, settings)
    summary = card.build(results, reference, measures.columns(measures.active(settings)), settings)
    for entry in summary["ranking"]:
        row = reference if entry["method"] == RANDOM else results[entry["method"]]
        row["rank"] = {k: entry[k] for k in ("mean_rank", "lo", "hi")}
    if log:
        for line in text.scorecard_lines(summary):
            log(line)
    return reference, summary


def save_maps(batch: Batch, maps_np: dict[str, np.ndarray], signed: dict[str, bool], out: Path,
              store: NpzWriter) -> None:
    """Each method's overlay per image (`<method>/<idx>.png`, on the photo when there is one) and the batch's
    rows of attributions.npz: the maps, the images, their indices and targets."""
    for name, maps in maps_np.items():
        for i, idx in enumerate(batch.indices):
            path = out / folder_name(name) / f"{idx}.png"
            if batch.photos is not None:
                render_photos.save_photo_overlay(path, batch.photos[i], maps[i], signed[name])
            else:
                render.save_overlay(path, batch.display[i], maps[i], signed[name])
    store.add(**{folder_name(k): v for k, v in maps_np.items()},
              images=(batch.display * 255).round().astype(np.uint8), indices=np.array(batch.indices),
              targets=np.array([] if batch.target is None else batch.target.cpu().numpy()))


def explain_more(batch: Batch, methods: list[Method], out: Path, settings: Settings, store: NpzWriter) -> None:
    """A later block of a long request (explain_section measured the first): each method's maps, overlays and
    rows of attributions.npz, without measures."""
    maps_np = {}
    for method in methods:
        maps = method(batch.model, batch.inputs, batch.target, **call_params(method, batch, settings))
        maps_np[method.name] = maps.detach().float().cpu().numpy()
    save_maps(batch, maps_np, {m.name: m.signed for m in methods}, out, store)


def explain_section(batch: Batch, methods: list[Method], out: Path, settings: Settings,
                    skipped: dict[str, str] | None = None, log=None, store: NpzWriter | None = None) -> dict:
    """Every method on the batch; writes the section's files into `out`; returns its metrics. With a `store`,
    the batch's rows of attributions.npz go there (the caller adds later blocks and closes it)."""
    results: dict[str, dict] = {}
    maps_np: dict[str, np.ndarray] = {}
    for method in methods:
        if log:
            log(f"explain: {method.name} on {len(batch.inputs)} images")
        try:
            maps, m = run_measures(method, batch, settings)
        except ConfigError as exc:
            (skipped if skipped is not None else {})[method.name] = str(exc)
            if skipped is None:
                raise
            continue
        results[method.name] = m
        maps_np[method.name] = maps.float().cpu().numpy()
    if not results:
        raise ConfigError("explain: no method could run on this model: "
                          + "; ".join(f"{k}: {v}" for k, v in (skipped or {}).items()))
    own = store is None
    store = NpzWriter(out / "attributions.npz") if store is None else store
    save_maps(batch, maps_np, {m.name: m.signed for m in methods}, out, store)
    if own:
        store.close()
    signs = {m.name: m.signed for m in methods if m.name in results}
    panels = render_photos.grid_panels(batch.photos, maps_np, signs) if batch.photos is not None else None
    render.save_grid(out / "grid.png", batch.display, maps_np, signs, batch.row_labels, panels)
    reference, summary = scorecard(results, batch, settings, log)
    render.save_curves(out / "curves.png", results, reference)
    layer = {"layer": batch.layer} if batch.layer and any(m.reads_layer for m in methods if m.name in results) else {}
    labels = {str(i): text.replace("\n", ", ") for i, text in zip(batch.indices, batch.row_labels, strict=True)}
    write_json(out / "metrics.json", {"methods": results, "random": reference, "scorecard": summary,
                                      "skipped": skipped or {}, "images": len(batch.inputs),
                                      "indices": list(batch.indices), "score": batch.score, "labels": labels,
                                      **layer})
    atomic_write_text(out / "metrics.csv", csv_text({**results, RANDOM: reference},
                                                    measures.columns(measures.active(settings))))
    atomic_write_text(out / "agreement.csv", agreement_csv(summary["agreement"]))
    extra = {"predictions": batch.predictions} if batch.predictions else {}
    return {"methods": results, "random": reference, "scorecard": summary, "skipped": skipped or {},
            "labels": labels, **layer, **extra}
