"""Classifier runs: the first n images of a split (every class in turn), their targets, one section."""

from __future__ import annotations

import torch

from xaicli.data.base import mean_image as training_mean_image
from xaicli.errors import ConfigError, XaiError
from xaicli.explain.pipeline import Batch, explain_section
from xaicli.explain.selection import layer_line, method_params, pick_images, resolve_methods, settings_from
from xaicli.explain.targets import class_targets, parse_target


def classifier_batch(restored, ecfg) -> Batch:
    """The chosen images of the split, their targets and the classifier as a plain module."""
    task, data, dev = restored.task, restored.data, restored.task.device
    x_all, y_all = data.split(ecfg.split)
    if len(x_all) == 0:
        raise XaiError(f"the {ecfg.split} split holds no images")
    idx = pick_images(y_all, ecfg.n)
    x_u8, labels = x_all[idx].to(dev), y_all[idx].to(dev)
    model = task.model
    inputs = task.normalize(x_u8)
    choice = parse_target(ecfg.target, data.num_classes, [str(n) for n in data.class_names])
    with torch.no_grad():
        logits = model(inputs)
    target = class_targets(choice, logits, labels)
    probs = logits.softmax(1)
    names = data.class_names
    pred = probs.argmax(1)
    rows = [f"#{k} pred {names[p]} ({probs[i, p]:.2f})\nlabel {names[y]}, target {names[t]}"
            for i, (k, p, y, t) in enumerate(zip(idx.tolist(), pred.tolist(), labels.tolist(), target.tolist(),
                                                 strict=True))]
    lo = task.normalize(torch.zeros(1, *x_u8.shape[1:], dtype=torch.uint8, device=dev))
    hi = task.normalize(torch.full((1, *x_u8.shape[1:]), 255, dtype=torch.uint8, device=dev))
    input_range = (float(lo.min()), float(hi.max()))
    mean_image = task.normalize(training_mean_image(data.x_train).to(dev))
    return Batch(model, inputs, x_u8.float().cpu().numpy() / 255, target, idx.tolist(), rows,
                 fill=float(lo.min()), score="softmax", params=method_params(ecfg, input_range, mean_image, ecfg.layer))


def explain_classifier(restored, ecfg, new_folder, explicit: bool, log) -> dict[str, dict]:
    """The classifier section; `new_folder()` creates the output folder once the request is valid."""
    if ecfg.inputs == "generated":
        raise ConfigError("--inputs generated: only GAN runs generate images; this is a classifier run")
    batch = classifier_batch(restored, ecfg)
    methods, skipped = resolve_methods(ecfg.methods, explicit, batch)
    if batch.layer:
        log(layer_line(batch.layer))
    folder = new_folder()
    return {"classifier": {"title": f"{restored.cfg.model.name} on {ecfg.split} images", "path": ".",
                           **explain_section(batch, methods, folder, settings_from(ecfg), skipped, log)}}
