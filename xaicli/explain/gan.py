"""GAN runs: the discriminator's "real" logit on real or generated images, a classifier's explanation
of generated digits (of each class, for conditional GANs), and the generator's latent attribution:
integrated gradients of the classifier's class score for G(z) with respect to z, drawn as bars.

Written against the GAN task's interface: `generator`, `discriminator`, `latent_dim`, `conditional`,
`num_classes`, `generate(n, seed, labels=None)` and `to_model_input(x_uint8)`, images in [-1, 1].
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from xaicli.errors import ConfigError
from xaicli.explain import render
from xaicli.explain.core import generator_for, select
from xaicli.explain.methods.integrated import integrated_gradients
from xaicli.explain.pipeline import Batch, explain_section
from xaicli.explain.selection import method_params, pick_images, resolve_methods, settings_from
from xaicli.explain.targets import (
    DiscriminatorLogit,
    LatentToClassifier,
    PixelsToClassifier,
    class_targets,
    parse_target,
)
from xaicli.runs.files import atomic_write_bytes, write_json

GAN_RANGE = (-1.0, 1.0)


def _display(x: torch.Tensor) -> np.ndarray:
    return ((x.detach().float().clamp(-1, 1) + 1) / 2).cpu().numpy()


def _class_labels(task, n: int, device) -> torch.Tensor | None:
    """Conditional GANs: classes 0, 1, ..., K-1, 0, 1, ... so every class is shown; else None."""
    return torch.arange(n, device=device) % task.num_classes if task.conditional else None


def discriminator_batch(restored, ecfg) -> Batch:
    task, dev = restored.task, restored.task.device
    if ecfg.inputs == "real":
        x_all, y_all = restored.data.split(ecfg.split)
        idx = pick_images(y_all, ecfg.n)
        n = len(idx)
        x = task.to_model_input(x_all[idx].to(dev)).float()
        labels = y_all[idx].to(dev).long() if task.conditional else None
    else:
        n = ecfg.n
        labels = _class_labels(task, n, dev)
        with torch.no_grad():
            x = task.generate(n, ecfg.seed, labels=labels).float()
    model = DiscriminatorLogit(task.discriminator, task.conditional, task.num_classes)
    # explain.layer names a layer of the discriminator; the wrapper calls a conditional one once per
    # class, on purpose (each image's score reads its own class's call)
    layer = f"discriminator.{ecfg.layer}" if ecfg.layer else ""
    target = labels if task.conditional else torch.zeros(n, dtype=torch.long, device=dev)
    with torch.no_grad():
        p = torch.sigmoid(select(model(x), target))
    rows = [f"#{i} D(real) {p[i]:.2f}" + (f"\nclass {int(labels[i])}" if labels is not None else "") for i in range(n)]
    ref = task.to_model_input(restored.data.x_train[:5000].to(dev)).float().mean(0, keepdim=True) \
        if restored.data is not None else None
    return Batch(model, x, _display(x), target, list(range(n)), rows, fill=GAN_RANGE[0], score="sigmoid",
                 params=method_params(ecfg, GAN_RANGE, ref, layer, allow_reused_layer=task.conditional))


def load_classifier(run: str, device):
    """A classifier run to score generated images: any run whose task has a classifier `model`."""
    from xaicli.runs.restore import restore

    clf = restore(run, "best", device=str(device))
    if not isinstance(getattr(clf.task, "model", None), torch.nn.Module):
        raise ConfigError(f"explain.classifier {run}: a {getattr(clf.task, 'kind', 'non-classifier')} run, "
                          "expected a classifier run")
    return clf


def generated_batch(task, scorer, ecfg, choice) -> tuple[Batch, torch.Tensor | None]:
    dev = task.device
    labels = _class_labels(task, ecfg.n, dev)
    with torch.no_grad():
        x = task.generate(ecfg.n, ecfg.seed, labels=labels).float()
        logits = scorer(x)
    target = class_targets(choice, logits, labels)
    probs = logits.softmax(1)
    rows = [f"#{i} pred {int(probs[i].argmax())} ({float(probs[i].max()):.2f})"
            + (f"\nasked {int(labels[i])}" if labels is not None else "") for i in range(len(x))]
    return Batch(scorer, x, _display(x), target, list(range(len(x))), rows, fill=GAN_RANGE[0], score="softmax",
                 params=method_params(ecfg, GAN_RANGE, None)), labels


def explain_generator(task, scorer, ecfg, choice, out: Path, log) -> dict:
    """IG over z of the classifier's class score for G(z); one bar chart per sample."""
    dev, n = task.device, ecfg.n
    z = torch.randn(n, task.latent_dim, generator=generator_for(dev, ecfg.seed), device=dev)
    labels = _class_labels(task, n, dev)
    label_col = (labels.float() if labels is not None else torch.zeros(n, device=dev)).view(n, 1)
    model = LatentToClassifier(task.generator, scorer, task.conditional)
    zl = torch.cat([z, label_col], 1)
    base = torch.cat([torch.zeros_like(z), label_col], 1)  # z = 0, the label held fixed
    with torch.no_grad():
        logits = model(zl)
        images = task.generator(z, labels) if task.conditional else task.generator(z)
    target = class_targets(choice, logits, labels)
    log(f"explain: generator latent attribution on {n} samples")
    attr = integrated_gradients(model, zl, target, n_steps=ecfg.n_steps, rule=ecfg.rule, baseline=base,
                                seed=ecfg.seed, budget_mb=ecfg.memory_mb)[:, :-1]
    with torch.no_grad():
        gap = select(logits, target) - select(model(base), target)
    completeness = (attr.sum(1) - gap).abs()
    a, imgs = attr.cpu().numpy(), _display(images)
    figures = []
    for i in range(n):
        title = (f"#{i}: class {int(target[i])} score, IG over z "
                 f"(sum {a[i].sum():.2f}, f(z) - f(0) = {float(gap[i]):.2f})")
        render.save_latent_bars(out / f"{i}.png", a[i], title, imgs[i])
        figures.append(f"{i}.png")
    buf = io.BytesIO()
    np.savez_compressed(buf, z=z.cpu().numpy(), attributions=a, targets=target.cpu().numpy(),
                        images=(imgs * 255).round().astype(np.uint8))
    atomic_write_bytes(out / "latent_attributions.npz", buf.getvalue())
    summary = {"samples": n, "n_steps": ecfg.n_steps, "rule": ecfg.rule, "baseline": "z = 0",
               "completeness_error_max": float(completeness.max()),
               "score_gap_mean_abs": float(gap.abs().mean())}
    write_json(out / "metrics.json", summary)
    return {"title": "generator: which latent dimensions make the classifier see its class", "path": out.name,
            "methods": {}, "figures": figures, "summary": summary,
            "notes": [f"IG completeness: |sum of attributions - (f(z) - f(0))| is at most "
                      f"{summary['completeness_error_max']:.3g}"]}


def explain_gan(restored, ecfg, new_folder, explicit: bool, log) -> dict[str, dict]:
    """The discriminator's section and, given a classifier run, the generated digits' and the
    generator's; `new_folder()` creates the output folder once the request is valid."""
    task = restored.task
    settings = settings_from(ecfg)
    batch = discriminator_batch(restored, ecfg)
    methods, skipped = resolve_methods(ecfg.methods, explicit, batch)
    notes = [] if ecfg.target == "pred" else [f"--target {ecfg.target} does not apply to the discriminator, "
                                              f"which is always explained by its real logit"]
    clf_run = ecfg.classifier or restored.cfg.eval.classifier
    if not clf_run:
        notes.append("no classifier run given (--classifier RUN, explain.classifier or eval.classifier): generated "
                     "digits and the generator's latent attribution are not explained")
    else:  # everything is checked before the folder exists
        clf = load_classifier(clf_run, task.device)
        scorer = PixelsToClassifier(clf.task.model, clf.data.mean, clf.data.std).to(task.device).eval()
        choice = parse_target(ecfg.target, clf.data.num_classes)
        gen_batch, _ = generated_batch(task, scorer, ecfg, choice)
        gen_methods, gen_skipped = resolve_methods(ecfg.methods, explicit, gen_batch)
    folder = new_folder()
    sections = {"discriminator": {"title": f"discriminator: its real logit on {ecfg.inputs} images", "path": ".",
                                  "notes": notes, **explain_section(batch, methods, folder, settings, skipped, log)}}
    if not clf_run:
        return sections
    title = ("classifier on generated digits of each class" if task.conditional
             else "classifier on generated digits")
    sections["generated_classifier"] = {
        "title": f"{title} ({clf.cfg.model.name}, {clf.run_dir})", "path": "generated_classifier",
        **explain_section(gen_batch, gen_methods, folder / "generated_classifier", settings, gen_skipped, log)}
    sections["generator"] = explain_generator(task, scorer, ecfg, choice, folder / "generator", log)
    return sections
