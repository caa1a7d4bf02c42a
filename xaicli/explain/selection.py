"""What a section explains and with what: the images, the methods, their params and the settings,
shared by the classifier and the GAN sections."""

from __future__ import annotations

import torch

from xaicli.errors import ConfigError
from xaicli.explain import measures
from xaicli.explain.core import is_scripted, refuse_scripted
from xaicli.explain.layers import AUTOMATIC, find_cam_layer
from xaicli.explain.measures.base import Settings
from xaicli.explain.pipeline import Batch
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


def resolve_methods(names: list[str], explicit: bool, batch: Batch) -> tuple[list[Method], dict[str, str]]:
    """Methods by name (unknown names fail before any work), and the layer for those that read one:
    batch.params["layer"] becomes its name (layers.find_cam_layer), so every method, and the
    randomization test's copies of the model, use that layer; batch.layer records it (and how its
    output was read: a transformer's tokens, channels last) for the section. A named layer that does
    not fit is an error; without a layer to use, or on a TorchScript model for the methods that need
    module hooks, a method is skipped when it came from the default list and refused when asked for
    by name."""
    methods = [resolve(name) for name in dict.fromkeys(names)]
    reasons: dict[str, str] = {}
    scripted = is_scripted(batch.model)
    for method in methods:
        if scripted and method.hooks:
            try:
                refuse_scripted(batch.model, method.name)
            except ConfigError as exc:
                reasons[method.name] = str(exc)
    if any(m.reads_layer and m.name not in reasons for m in methods):
        named = batch.params.get("layer") or None
        try:
            found = find_cam_layer(batch.model, batch.inputs, named, batch.params.get("allow_reused_layer", False))
            batch.params["layer"] = found.name
            batch.layer = {"name": found.name, "rule": "explain.layer" if named else AUTOMATIC,
                           **({"grid": found.grid.describe()} if found.grid and found.grid.kind != "nchw" else {})}
        except ConfigError as exc:
            if named:
                raise ConfigError(f"explain.layer: {exc}") from None
            reasons.update({m.name: str(exc) for m in methods if m.reads_layer and m.name not in reasons})
    chosen, skipped = [], {}
    for method in methods:
        if method.name in reasons:
            if explicit:
                raise ConfigError(f"--method {method.name}: {reasons[method.name]}")
            skipped[method.name] = reasons[method.name]
            continue
        chosen.append(method)
    if not chosen:
        raise ConfigError("explain: no method left to run")
    return chosen, skipped


def layer_line(layer: dict) -> str:
    """The one line that says which layer class activation maps read, and how it was chosen."""
    grid = f"; {layer['grid']}" if layer.get("grid") else ""
    return f"explain: class activation maps read layer '{layer['name']}' ({layer['rule']}{grid})"


def method_params(ecfg, input_range, mean_image, layer: str = "", allow_reused_layer: bool = False) -> dict:
    """One params dict for every method of a section (each takes what it accepts)."""
    return {"baseline": ecfg.baseline, "n_steps": ecfg.n_steps, "rule": ecfg.rule, "n_samples": ecfg.n_samples,
            "sigma": ecfg.sigma, "window": ecfg.window, "stride": ecfg.stride, "input_range": input_range,
            "mean_image": mean_image, "layer": layer, "allow_reused_layer": allow_reused_layer}


def settings_from(ecfg) -> Settings:
    """The measures' settings from the explain section; unknown measure names and removal fractions
    outside (0, 1) are ConfigErrors naming the key."""
    measures.check(ecfg.measures)
    for f in ecfg.road_fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
            raise ConfigError(f"explain.road_fractions: expected numbers in (0, 1), found {f!r}")
    return Settings(sanity=ecfg.sanity, threshold=ecfg.sanity_threshold, seed=ecfg.seed, budget_mb=ecfg.memory_mb,
                    curve_steps=ecfg.curve_steps, measures=tuple(ecfg.measures),
                    road_fractions=tuple(float(f) for f in ecfg.road_fractions), road_noise=ecfg.road_noise,
                    patch=ecfg.patch, smooth_samples=ecfg.smooth_samples, smooth_noise=ecfg.smooth_noise,
                    entropy_bins=ecfg.entropy_bins, bootstrap=ecfg.bootstrap)
