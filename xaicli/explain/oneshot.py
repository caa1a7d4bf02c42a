"""The user's image files explained: `xai explain --model SPEC --weights W --images PATH...` (a model from
elsewhere, no run) and `xai explain RUN --images PATH...` (a trained classifier run).

Each file is read at its own size, resized and centre-cropped as the model expects (the weights'
preprocessing, or the run's image size) and normalised; the maps are drawn on the photos themselves
(render_photos.py) and the report lists each image's five most probable classes. The one-shot folder
is `--out DIR`, else runs/explain/NNN under the current folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from xaicli.config.schema import DEFAULT_MEASURES
from xaicli.errors import ConfigError
from xaicli.explain.arrays import NpzWriter
from xaicli.explain.photos import image_files, read_photos
from xaicli.explain.pipeline import Batch, explain_more, explain_section
from xaicli.explain.selection import layer_line, method_params, resolve_methods, settings_from
from xaicli.explain.targets import class_targets, parse_target
from xaicli.runs.files import atomic_write_text

TOP_K = 5
LARGE_INPUT = 64  # inputs larger than this side get the PHOTO_MEASURES by default
PHOTO_MEASURES = ("deletion_insertion", "sparseness", "complexity")
DEFAULT_SIDE = 224  # the model's input side when neither the weights nor a user's module say
BLOCK = 32  # image files read and explained at a time after the first explain.n
PROGRESS_SECONDS = 10.0  # a progress line at most this often


@dataclass
class Viewer:
    """How a file becomes a model input: channels, the shorter side's size, the crop's side, the resize
    interpolation, and uint8 images -> model inputs."""

    channels: int
    resize: int
    crop: int
    interpolation: str
    normalize: Callable[[torch.Tensor], torch.Tensor]


def external_viewer(pre: dict, device: torch.device) -> Viewer:
    """From an ExternalModel's preprocess dict (resize, crop, mean, std, interpolation)."""
    crop = int(pre.get("crop") or pre.get("resize") or DEFAULT_SIDE)
    resize = int(pre.get("resize") or crop)
    mean = torch.tensor(pre["mean"], dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(pre["std"], dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return Viewer(3, resize, crop, str(pre.get("interpolation") or "bilinear"),
                  lambda x: (x.to(device).float() / 255 - mean) / std)


def run_viewer(restored) -> Viewer:
    """A trained run's images: its channels and square size (the shorter side resized, centre crop, as its
    folder data were decoded), normalised by its task."""
    shape = restored.data.x_train.shape
    return Viewer(int(shape[1]), int(shape[-1]), int(shape[-1]), "bilinear",
                  lambda x: restored.task.normalize(x.to(restored.task.device)))


def top_classes(logits: torch.Tensor, names: list[str], k: int = TOP_K) -> list[list]:
    """Per image: [[class name, probability], ...], the k most probable first (ranked by logit: nearly
    equal probabilities can round to ties)."""
    indices = logits.topk(min(k, logits.shape[1]), dim=1).indices
    probs = logits.float().softmax(1).gather(1, indices)
    return [[[names[c], round(float(p), 4)] for p, c in zip(ps.tolist(), cs.tolist(), strict=True)]
            for ps, cs in zip(probs, indices, strict=True)]


def photo_batch(model: torch.nn.Module, files: list[Path], viewer: Viewer, names: list[str] | None, ecfg,
                first: int = 0) -> Batch:
    """The files read, their predictions and targets (a class by index or name, or the prediction); the files
    are numbered from `first` (their place in the whole request)."""
    views, photos = read_photos(files, viewer.channels, viewer.resize, viewer.crop, viewer.interpolation)
    inputs = viewer.normalize(views)
    with torch.no_grad():
        logits = model(inputs)
    classes = names if names and len(names) == logits.shape[1] else [str(i) for i in range(logits.shape[1])]
    choice = parse_target(ecfg.target, logits.shape[1], classes)
    if choice == "label":
        raise ConfigError("--target label: image files have no labels; use pred, a class index or a class name")
    target = class_targets(choice, logits, None)
    probs = logits.float().softmax(1)
    pred = logits.argmax(1)  # the target "pred" is this argmax too
    rows = [f"{p.path.name}\npred {classes[k]} ({probs[i, k]:.2f})" + ("" if t == k else f"\ntarget {classes[t]}")
            for i, (p, k, t) in enumerate(zip(photos, pred.tolist(), target.tolist(), strict=True))]
    top = top_classes(logits, classes)
    predictions = [{"index": i, "image": str(p.path), "top": t}
                   for i, (p, t) in enumerate(zip(photos, top, strict=True), start=first)]
    lo = viewer.normalize(torch.zeros(1, *views.shape[1:], dtype=torch.uint8))
    hi = viewer.normalize(torch.full((1, *views.shape[1:]), 255, dtype=torch.uint8))
    return Batch(model, inputs, views.float().numpy() / 255, target, list(range(first, first + len(files))), rows,
                 fill=float(lo.min()), score="softmax",
                 params=method_params(ecfg, (float(lo.min()), float(hi.max())), None, ecfg.layer),
                 photos=photos, predictions=predictions)


def explain_files(model, names, viewer: Viewer, paths: list[str], ecfg, explicit: bool, new_folder, log,
                  title: str) -> dict[str, dict]:
    """The one section of an explanation of image files; `new_folder()` once the request is valid.

    The first explain.n files are measured (the scorecard), drawn in the grid and shown in the report; every
    file gets its overlays, its rows of attributions.npz and its line of predictions.csv. The files after
    the first n are explained BLOCK at a time, so memory holds one block whatever the number of files."""
    files = image_files(paths)
    if viewer.crop > LARGE_INPUT and list(ecfg.measures) == list(DEFAULT_MEASURES):
        ecfg.measures = list(PHOTO_MEASURES)
        log(f"explain: measures {', '.join(PHOTO_MEASURES)} (the others take minutes per method at "
            f"{viewer.crop} x {viewer.crop} on a CPU; name them in explain.measures to run them)")
    shown = min(len(files), ecfg.n)
    log(f"explain: {len(files)} image file{'s' * (len(files) != 1)}, model input {viewer.channels} x {viewer.crop} x "
        f"{viewer.crop} (shorter side {viewer.resize}, centre crop)"
        + (f"; the first {shown} measured and shown in the report (explain.n, -n)" if shown < len(files) else ""))
    batch = photo_batch(model, files[:shown], viewer, names, ecfg)
    methods, skipped = resolve_methods(ecfg.methods, explicit, batch)
    if batch.layer:
        log(layer_line(batch.layer))
    folder = new_folder()
    settings = settings_from(ecfg)
    store = NpzWriter(folder / "attributions.npz")
    try:
        section = explain_section(batch, methods, folder, settings, skipped, log, store)
        predictions = list(batch.predictions)
        ran = [m for m in methods if m.name in section["methods"]]
        layer = batch.params.get("layer", "")  # resolved once, on the first files: every block reads it
        del batch
        reported = time.perf_counter()
        for start in range(shown, len(files), BLOCK):
            block = photo_batch(model, files[start:start + BLOCK], viewer, names, ecfg, first=start)
            block.params["layer"] = layer
            explain_more(block, ran, folder, settings, store)
            predictions += block.predictions
            done = start + len(block.indices)
            if time.perf_counter() - reported > PROGRESS_SECONDS or done == len(files):
                log(f"explain: {done} / {len(files)} images")
                reported = time.perf_counter()
        store.close()
    finally:
        store.discard()
    atomic_write_text(folder / "predictions.csv", predictions_csv(predictions))
    return {"classifier": {"title": title, "path": ".", "files": len(files), **section}}


def predictions_csv(predictions: list[dict]) -> str:
    """One line per image file: its number, path and top classes with their probabilities."""
    k = max((len(p["top"]) for p in predictions), default=0)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["index", "image", *(f"{key}{r}" for r in range(1, k + 1) for key in ("class", "probability"))])
    for p in predictions:
        writer.writerow([p["index"], p["image"], *(v for pair in p["top"] for v in pair)])
    return buf.getvalue()


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_oneshot(spec: str, weights: str | None, images: list[str], methods: list[str] | None = None,
                target: str | None = None, out: str | None = None, layer: str | None = None,
                allow_download: bool = False, log=print, sanity: bool = True, n: int | None = None) -> Path:
    """Explain image files with a model from elsewhere; returns the folder (report.html inside)."""
    from xaicli.config.schema import ExplainConfig
    from xaicli.explain.report import manifest_fields, write_report
    from xaicli.models.external import build_external, is_external
    from xaicli.runs.files import write_json
    from xaicli.runs.staging import StagedOutput

    if not is_external(spec):
        raise ConfigError(f"--model {spec!r}: expected torchvision:NAME, timm:NAME or module.path:callable")
    for name in methods or []:
        from xaicli.explain.registry import resolve

        resolve(name)
    ecfg = ExplainConfig()
    ecfg.sanity = sanity
    if methods:
        ecfg.methods = list(methods)
    if target is not None:
        ecfg.target = str(target)
    if layer is not None:
        ecfg.layer = layer
    if n is not None:
        ecfg.n = int(n)
    started = time.perf_counter()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ext = build_external(spec, weights, allow_download=allow_download)
    for note in ext.notes:
        log(f"model: {note}")
    model = ext.model.to(device).eval()
    torch.manual_seed(ecfg.seed)
    made: list[StagedOutput] = []

    def new_folder() -> Path:
        made.append(StagedOutput(Path("runs"), "explain", out))
        return made[-1].path

    sections = explain_files(model, ext.class_names, external_viewer(ext.preprocess, device), images, ecfg,
                             bool(methods), new_folder, log, f"{spec} on image files")
    folder = made[-1].path
    is_file = weights is not None and Path(weights).is_file()
    manifest = {
        "run": None, "kind": "classifier", "model": spec,
        "checkpoint": str(weights or "none (random weights)"),
        "checkpoint_sha256": file_sha256(weights) if is_file and weights else "-",
        "weights": weights, "preprocess": ext.preprocess, "notes": ext.notes, "images": list(images),
        **manifest_fields(ecfg, device, started, sections),
    }
    write_json(folder / "manifest.json", manifest)
    report = write_report(folder, manifest, sections)
    final = made[-1].commit()
    log(f"explain: report {final / report.name}")
    return final
