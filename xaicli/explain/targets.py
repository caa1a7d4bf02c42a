"""What is explained: classifier targets (pred, label, a class) and the GAN models as plain modules."""

from __future__ import annotations

import re

import torch
from torch import nn

from xaicli.errors import ConfigError
from xaicli.registry import did_you_mean


def _plain(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").split())


def class_index(name: str, names: list[str]) -> int | None:
    """The index of a class by name: exact, else ignoring case, underscores and repeated spaces."""
    if name in names:
        return names.index(name)
    plain = [_plain(n) for n in names]
    return plain.index(_plain(name)) if _plain(name) in plain else None


def parse_target(target: str, num_classes: int | None, names: list[str] | None = None) -> str | int:
    """'pred', 'label', a class index (ASCII digits) in range or, when the class `names` are known, a class
    name (`tabby`, `tiger_cat`: case and underscores do not matter); the range is checked when
    `num_classes` is known, an unknown name gets the closest names."""
    if target in ("pred", "label"):
        return target
    if not re.fullmatch(r"[0-9]+", str(target)):
        k = class_index(str(target), names) if names else None
        if k is not None:
            return k
        if names:
            raise ConfigError(f"--target: expected pred, label or a class index, or a class name of this model; "
                              f"found {target!r}{did_you_mean(_plain(str(target)), names)}")
        raise ConfigError(f"--target: expected pred, label or a class index, found {target!r}")
    k = int(target)
    if num_classes is not None and k >= num_classes:
        raise ConfigError(f"--target: class {k} does not exist; the model has classes 0..{num_classes - 1}")
    return k


def class_targets(choice: str | int, logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """(N,) classes to explain: the prediction, the true label, or a fixed class."""
    if choice == "pred":
        return logits.argmax(1)
    if choice == "label":
        if labels is None:
            raise ConfigError("--target label: these images have no labels (generated images); use pred or a class")
        return labels.to(logits.device).long()
    return torch.full((len(logits),), int(choice), dtype=torch.long, device=logits.device)


class PixelsToClassifier(nn.Module):
    """Images in [-1, 1] (a generator's output) -> a classifier's logits, differentiably:
    pixels (x + 1) / 2 in [0, 1], normalised by the classifier's training mean and std."""

    def __init__(self, classifier: nn.Module, mean, std) -> None:
        super().__init__()
        self.classifier = classifier
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(((x + 1) / 2 - self.mean) / self.std)


class DiscriminatorLogit(nn.Module):
    """A discriminator's "real" logit as (N, 1); conditional: (N, K), column k conditioned on class k,
    so that the target (the image's class) picks its own logit under every method's batch expansion."""

    def __init__(self, discriminator: nn.Module, conditional: bool = False, num_classes: int = 0) -> None:
        super().__init__()
        self.discriminator, self.conditional, self.num_classes = discriminator, conditional, num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.conditional:
            return self.discriminator(x).reshape(len(x), 1)
        cols = [self.discriminator(x, torch.full((len(x),), k, dtype=torch.long, device=x.device)).reshape(len(x))
                for k in range(self.num_classes)]
        return torch.stack(cols, 1)


class LatentToClassifier(nn.Module):
    """[z, label] (N, latent_dim + 1) -> classifier logits of G(z[, label]).

    The label rides along as a last column so that every row of a batched path carries its own
    label; with the baseline's label column equal to the input's, integrated gradients never moves it
    and gives it zero attribution."""

    def __init__(self, generator: nn.Module, scorer: nn.Module, conditional: bool) -> None:
        super().__init__()
        self.generator, self.scorer, self.conditional = generator, scorer, conditional

    def forward(self, zl: torch.Tensor) -> torch.Tensor:
        z, label = zl[:, :-1], zl[:, -1].round().long()
        images = self.generator(z, label) if self.conditional else self.generator(z)
        return self.scorer(images)
