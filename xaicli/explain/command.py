"""`xai explain RUN`: pick images and targets, run the methods, measure them, write RUN/explain/NNN/."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import torch

from xaicli.viz import console
from xaicli.errors import ConfigError, XaiError
from xaicli.explain.registry import Method, resolve
from xaicli.explain.pipeline import Batch, Settings, explain_section
from xaicli.explain.targets import class_targets, parse_target
from xaicli.runs.files import write_json
from xaicli.runs.layout import new_output_dir


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def log(message: str) -> None:
    console.info(message)


def resolve_methods(names: list[str], explicit: bool, spatial: bool) -> tuple[list[Method], dict[str, str]]:
    """Methods by name (unknown names fail before any work); CAMs on a model without spatial layers are
    skipped when they came from the default list and refused when asked for by name."""
    methods, skipped = [], {}
    for name in dict.fromkeys(names):
        method = resolve(name)
        if not spatial and ("cam" in name.split(":")[-1].lower()):
            reason = "the model has no layer with spatial output (N, C, H, W) for a class activation map"
            if explicit:
                raise ConfigError(f"--method {name}: {reason}; use saliency, integrated_gradients or occlusion")
            skipped[name] = reason
            continue
        methods.append(method)
    if not methods:
        raise ConfigError("explain: no method left to run")
    return methods, skipped


def has_spatial_layer(model, example) -> bool:
    from xaicli.explain.core import last_spatial_layer

    try:
        last_spatial_layer(model, example)
        return True
    except ConfigError:
        return False


def method_params(ecfg, input_range, mean_image) -> dict:
    return {"baseline": ecfg.baseline, "n_steps": ecfg.n_steps, "rule": ecfg.rule, "n_samples": ecfg.n_samples,
            "sigma": ecfg.sigma, "window": ecfg.window, "stride": ecfg.stride, "input_range": input_range,
            "mean_image": mean_image}


def settings_from(ecfg) -> Settings:
    return Settings(sanity=ecfg.sanity, threshold=ecfg.sanity_threshold, seed=ecfg.seed, budget_mb=ecfg.memory_mb)


def apply_options(cfg, methods, n, target, inputs, split, classifier=None) -> None:
    """Command-line options override the run's explain section."""
    e = cfg.explain
    if methods:
        e.methods = list(methods)
    if n is not None:
        e.n = n
    if target is not None:
        e.target = str(target)
    if inputs is not None:
        if inputs not in ("real", "generated"):
            raise ConfigError(f"--inputs: expected real or generated, found {inputs!r}")
        e.inputs = inputs
    if split is not None:
        if split not in ("train", "test"):
            raise ConfigError(f"--split: expected train or test, found {split!r}")
        e.split = split
    if classifier is not None:
        e.classifier = classifier


def pick_images(labels: torch.Tensor, n: int) -> torch.Tensor:
    """n dataset indices taking the classes in turn (the first image of class 0, of class 1, ..., then
    the second of each), so a small n shows every class even when a split is sorted by class."""
    labels = labels.cpu()
    per_class = [torch.nonzero(labels == c).flatten() for c in torch.unique(labels).tolist()]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < min(n, len(labels)):
        for members in per_class:
            if depth < len(members) and len(chosen) < n:
                chosen.append(int(members[depth]))
        depth += 1
    return torch.tensor(chosen, dtype=torch.long)


def classifier_batch(restored, ecfg) -> tuple[Batch, bool]:
    """The first n images of the split, their targets and the classifier as a plain module."""
    task, data, dev = restored.task, restored.data, restored.task.device
    x_all, y_all = data.split(ecfg.split)
    if len(x_all) == 0:
        raise XaiError(f"the {ecfg.split} split holds no images")
    idx = pick_images(y_all, ecfg.n)
    x_u8, labels = x_all[idx].to(dev), y_all[idx].to(dev)
    model = task.model
    inputs = task.normalize(x_u8)
    choice = parse_target(ecfg.target, data.num_classes)
    with torch.no_grad():
        logits = model(inputs)
    target = class_targets(choice, logits, labels)
    probs = logits.softmax(1)
    names = data.class_names
    pred = probs.argmax(1)
    rows = [f"#{k} pred {names[p]} ({probs[i, p]:.2f})\nlabel {names[y]}, target {names[t]}"
            for i, (k, p, y, t) in enumerate(zip(idx.tolist(), pred.tolist(), labels.tolist(), target.tolist()))]
    lo = task.normalize(torch.zeros(1, *x_u8.shape[1:], dtype=torch.uint8, device=dev))
    hi = task.normalize(torch.full((1, *x_u8.shape[1:]), 255, dtype=torch.uint8, device=dev))
    input_range = (float(lo.min()), float(hi.max()))
    mean_image = task.normalize(data.x_train[:20000].float().mean(0, keepdim=True).to(dev))
    batch = Batch(model, inputs, x_u8.float().cpu().numpy() / 255, target, idx.tolist(), rows,
                  fill=float(lo.min()), kind="softmax", params=method_params(ecfg, input_range, mean_image))
    return batch, has_spatial_layer(model, inputs)


def run_explain(run: str, methods: list[str] | None = None, n: int | None = None, target: str | None = None,
                inputs: str | None = None, split: str | None = None, out: str | None = None,
                checkpoint: str = "last", classifier: str | None = None) -> Path:
    """Explain a run; returns the output folder (the CLI prints it)."""
    from xaicli.runs.meta import device_name, now, versions
    from xaicli.runs.restore import restore

    restored = restore(run, checkpoint)
    cfg = restored.cfg
    apply_options(cfg, methods, n, target, inputs, split, classifier)
    ecfg = cfg.explain
    for name in ecfg.methods:  # fail on a misspelt method before doing any work
        resolve(name)
    started = time.perf_counter()
    torch.manual_seed(ecfg.seed)
    sections: dict[str, dict] = {}
    if restored.task.kind == "gan":
        from xaicli.explain.gan import explain_gan

        folder = new_output_dir(restored.run_dir, "explain", out)
        sections = explain_gan(restored, ecfg, folder, bool(methods), log)
    else:
        if ecfg.inputs == "generated":
            raise ConfigError("--inputs generated: only GAN runs generate images; this is a classifier run")
        batch, spatial = classifier_batch(restored, ecfg)
        chosen, skipped = resolve_methods(ecfg.methods, bool(methods), spatial)
        folder = new_output_dir(restored.run_dir, "explain", out)
        sections["classifier"] = {"title": f"{cfg.model.name} on {ecfg.split} images", "path": ".",
                                  **explain_section(batch, chosen, folder, settings_from(ecfg), skipped, log)}
    device = restored.task.device
    manifest = {
        "run": str(restored.run_dir), "kind": restored.task.kind, "model": cfg.model.name,
        "checkpoint": str(restored.checkpoint), "checkpoint_sha256": sha256(restored.checkpoint),
        "command": sys.argv[:], "created": now(), "seconds": round(time.perf_counter() - started, 3),
        "device": str(device), "device_name": device_name(device), "versions": versions(),
        "seeds": {"explain": ecfg.seed, "run": cfg.seed},
        "explain": {k: getattr(ecfg, k) for k in ecfg.__dataclass_fields__},
        "config": __import__("xaicli.config", fromlist=["to_dict"]).to_dict(cfg),
        "sections": {k: {"title": v["title"], "path": v["path"], "methods": list(v["methods"]),
                         "skipped": v.get("skipped", {})} for k, v in sections.items()},
    }
    write_json(folder / "manifest.json", manifest)
    from xaicli.explain.report import write_report

    report = write_report(folder, manifest, sections)
    log(f"explain: report {report}")
    return folder



