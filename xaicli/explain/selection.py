"""What a section explains and with what: the images, the methods, their params and the settings,
shared by the classifier and the GAN sections."""

from __future__ import annotations

import torch

from xaicli.errors import ConfigError
from xaicli.explain.core import last_spatial_layer
from xaicli.explain.measures.base import Settings
from xaicli.explain.registry import Method, resolve


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
