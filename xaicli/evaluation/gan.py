"""`xai eval` for GAN runs: sample-quality numbers placed between a floor and a ceiling.

Features come from a classifier run of this project (its penultimate layer: the input of its last
Linear layer, read with a forward hook, so classifier code is untouched). Compared, N images each:
  generated vs held-out real          the result (FID, KID, precision, recall)
  held-out real vs training real      the floor: what a perfect generator would score
  untrained generator vs held-out     the ceiling: same architecture, fixed seed, no training
Without a classifier only the numbers that need none are given (D outputs, pixel diversity).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from xaicli.errors import ConfigError
from xaicli.evaluation import gan_metrics as gm
from xaicli.viz.images import from_uint8, to_uint8

NO_CLASSIFIER_NOTE = ("FID, KID, precision/recall and class coverage need a classifier run: "
                      "xai eval RUN --classifier CLASSIFIER_RUN (or eval.classifier in the config)")
CAS_EPOCHS = 15


def evaluate_gan(restored, classifier: str | None = None) -> dict:
    cfg, task, data = restored.cfg, restored.task, restored.data
    n = min(cfg.eval.num_samples, len(data.x_test))
    if n < 2:
        raise ConfigError(f"eval: the held-out set has {len(data.x_test)} images; need at least 2")
    seed = cfg.seed
    labels = task.default_labels(n) if task.conditional else None
    fake = task.generate(n, seed, labels)
    real = subset(data.x_test, data.y_test, n, seed)
    metrics = {"run": str(restored.run_dir), "checkpoint": str(restored.checkpoint), "kind": "gan",
               "model": cfg.model.name, "loss": task.gan.loss, "epoch": restored.state.get("epoch"),
               "images": n, "ema": "generator_ema" in task.modules}
    metrics.update(discriminator_stats(task, real[0], fake, labels, real[1]))
    metrics["pixel_diversity"] = gm.pixel_diversity(fake)
    metrics["pixel_diversity_real"] = gm.pixel_diversity(from_uint8(real[0]))
    source = classifier or cfg.eval.classifier
    if not source:
        metrics["note"] = NO_CLASSIFIER_NOTE
        return metrics
    metrics.update(classifier_metrics(task, cfg, data, source, to_uint8(fake), labels, real, seed))
    return metrics


def subset(x: torch.Tensor, y: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n images chosen at random with a fixed seed (the first n may not be class-balanced)."""
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx], y[idx]


@torch.no_grad()
def discriminator_stats(task, real_u8: torch.Tensor, fake: torch.Tensor, fake_labels, real_labels) -> dict:
    """Mean D output on held-out real and on generated images (and as probabilities for BCE/hinge)."""
    d = task.discriminator
    cond = task.conditional
    out_real = torch.cat([d(task.to_model_input(real_u8[i:i + 1000]),
                            real_labels[i:i + 1000].to(task.device) if cond else None).float()
                          for i in range(0, len(real_u8), 1000)])
    out_fake = torch.cat([d(fake[i:i + 1000], fake_labels[i:i + 1000] if cond else None).float()
                          for i in range(0, len(fake), 1000)])
    stats = {"d_real": float(out_real.mean()), "d_fake": float(out_fake.mean())}
    if task.gan.loss != "wgan_gp":
        stats.update(p_real=float(out_real.sigmoid().mean()), p_fake=float(out_fake.sigmoid().mean()))
    return stats


class FeatureExtractor:
    """A classifier run's logits and penultimate features (the input of its last Linear layer)."""

    def __init__(self, restored) -> None:
        self.task = restored.task
        self.batch_size = restored.cfg.data.eval_batch_size
        linears = [m for m in self.task.model.modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise ConfigError(f"{restored.run_dir}: the classifier has no Linear layer to take features from")
        self.layer = linears[-1]

    def __call__(self, x_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        captured: list[torch.Tensor] = []
        hook = self.layer.register_forward_hook(lambda m, inp, out: captured.append(inp[0].detach().float()))
        try:
            logits = self.task.predict(x_uint8, torch.zeros(len(x_uint8), dtype=torch.long), self.batch_size)
        finally:
            hook.remove()
        return torch.cat(captured).flatten(1), logits


def load_classifier(source: str, data) -> FeatureExtractor:
    from xaicli.runs.restore import restore

    clf = restore(source, "best")
    if not clf.task.classifies:
        raise ConfigError(f"--classifier {source}: a {clf.task.kind} run; expected a classifier run "
                          f"(for example one trained with configs/mnist_cnn.yaml)")
    if tuple(clf.data.shape) != tuple(data.shape) or clf.data.num_classes != data.num_classes:
        raise ConfigError(f"--classifier {source}: trained on {tuple(clf.data.shape)} images with "
                          f"{clf.data.num_classes} classes, but the GAN makes {tuple(data.shape)} images "
                          f"of {data.num_classes} classes")
    return FeatureExtractor(clf)


@torch.no_grad()
def untrained_images(task, cfg, n: int, seed: int, labels) -> torch.Tensor:
    """The ceiling: the same architecture freshly initialised from the run's seed, same noise as the result."""
    from xaicli.models import build_model

    state = torch.get_rng_state()
    torch.manual_seed(cfg.seed)
    try:
        gan = build_model(cfg.model.name, task.image_shape, task.num_classes, cfg.model.args).to(task.device)
    finally:
        torch.set_rng_state(state)
    gen = gan.generator.eval()
    z = task.noise(n, seed)
    return torch.cat([gen(z[i:i + 1000], None if labels is None else labels[i:i + 1000]).float()
                      for i in range(0, n, 1000)])


def classifier_metrics(task, cfg, data, source: str, fake_u8, labels, real, seed: int) -> dict:
    extract = load_classifier(source, data)
    n = len(fake_u8)
    train_real = subset(data.x_train, data.y_train, n, seed + 1)
    f_fake, logits_fake = extract(fake_u8)
    f_test, _ = extract(real[0])
    f_train, _ = extract(train_real[0])
    f_untrained, _ = extract(to_uint8(untrained_images(task, cfg, n, seed, labels)))
    kid_size = min(1000, max(2, n // 2))  # subsets smaller than the set, so the std means something
    out = {"classifier": str(source), "feature_dim": int(f_fake.shape[1]),
           "fid": gm.fid(f_fake, f_test), "fid_floor": gm.fid(f_train, f_test),
           "fid_ceiling": gm.fid(f_untrained, f_test)}
    out["verdict"] = fid_verdict(out["fid"], out["fid_floor"], out["fid_ceiling"])
    for name, feats in (("kid", f_fake), ("kid_floor", f_train), ("kid_ceiling", f_untrained)):
        mean, std = gm.kid(feats, f_test, subset_size=kid_size, seed=seed)
        out[name], out[f"{name}_std"] = mean, std
    k = min(3, n - 1)
    out["precision"], out["recall"] = gm.precision_recall(f_test, f_fake, k=k)
    out["precision_floor"], out["recall_floor"] = gm.precision_recall(f_test, f_train, k=k)
    pred = logits_fake.argmax(1).cpu()
    num_classes = data.num_classes
    out["classes_covered"] = gm.classes_covered(pred, num_classes)
    out["class_entropy"] = gm.class_entropy(pred, num_classes)
    out["class_entropy_ratio"] = out["class_entropy"] / math.log(num_classes)
    warning = mode_collapse_warning(out["classes_covered"], num_classes, out["class_entropy_ratio"])
    if warning:
        out["warnings"] = [warning]  # said after the verdict (evaluation.command.eval_summary)
    hist = gm.class_histogram(pred, num_classes)
    out["class_histogram"] = {name: round(float(p), 6) for name, p in zip(data.class_names, hist, strict=True)}
    if labels is not None:
        out.update(conditional_metrics(task, data, pred, labels.cpu(), fake_u8, train_real, real, seed))
    return out


def fid_verdict(fid: float, floor: float, ceiling: float) -> str:
    """One line placing FID between its floor (real vs real) and its ceiling (an untrained generator)."""
    if ceiling <= floor:
        return f"FID {fid:.1f} (floor {floor:.1f} and ceiling {ceiling:.1f} do not bracket it: too few images?)"
    share = (fid - floor) / (ceiling - floor)
    if share <= 0:
        where = "at the floor: as close to the held-out images as real training images are"
    elif share >= 1:
        where = "at or above the ceiling: no better than an untrained generator"
    else:
        where = f"{share:.0%} of the way from the floor to the ceiling"
    return (f"FID {fid:.1f}, {where} (floor {floor:.1f}: held-out vs training images; ceiling {ceiling:.1f}: "
            f"an untrained generator; lower is better)")


ENTROPY_RATIO_WARNING = 0.9  # predicted-class entropy under this share of ln K: some classes dominate


def mode_collapse_warning(covered: int, num_classes: int, entropy_ratio: float) -> str | None:
    """A one-line warning naming what is low (classes covered, the entropy of predicted classes), or None."""
    low = []
    if covered < num_classes:
        low.append(f"it covers only {covered} of {num_classes} classes")
    if entropy_ratio < ENTROPY_RATIO_WARNING:
        low.append(f"the entropy of its predicted classes is {entropy_ratio:.2f} x ln {num_classes} "
                   f"(under {ENTROPY_RATIO_WARNING}: a few classes dominate)")
    return f"mode collapse: {' and '.join(low)}" if low else None


def conditional_metrics(task, data, pred, labels, fake_u8, train_real, real, seed: int) -> dict:
    """Does the classifier see the requested class? And the Classification Accuracy Score."""
    correct = (pred == labels).double()
    per_class = {name: float(correct[labels == c].mean()) for c, name in enumerate(data.class_names)
                 if (labels == c).any()}
    return {"label_accuracy": float(correct.mean()), "per_class_accuracy": per_class,
            "cas": classification_accuracy_score(fake_u8, labels, real[0], real[1], data.num_classes,
                                                 task.device, seed),
            "cas_real": classification_accuracy_score(train_real[0], train_real[1], real[0], real[1],
                                                      data.num_classes, task.device, seed)}


def classification_accuracy_score(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
                                  y_test: torch.Tensor, num_classes: int, device: torch.device, seed: int,
                                  epochs: int = CAS_EPOCHS, batch_size: int = 64) -> float:
    """Ravuri & Vinyals 2019: train a fresh small classifier (an MLP) on (x_train, y_train), test on real data.

    The same recipe on real training images of the same count (cas_real) is the reference to read it against.
    """
    from xaicli.models import build_model

    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        shape = tuple(x_train.shape[1:])
        model = build_model("mlp", shape, num_classes, {"hidden": [256, 128]}).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = from_uint8(x_train).to(device)
        y = y_train.to(device)
        g = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=g).to(device)
            for i in range(0, len(x), batch_size):
                idx = order[i:i + batch_size]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(from_uint8(x_test[i:i + 1000]).to(device)).argmax(1).cpu()
                              for i in range(0, len(x_test), 1000)])
    finally:
        torch.set_rng_state(state)
    return float((pred == y_test.cpu()).double().mean())
