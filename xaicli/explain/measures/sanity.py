"""Sanity checks: the model-parameter randomization test (Adebayo et al. 2018) and degenerate maps.

Cascading randomization: starting from the top (output) layer, each layer with parameters is
re-initialised in turn, cumulatively, on a copy of the model, and the method's maps are recomputed.
The Spearman rank correlation between the absolute original and randomized maps is averaged over
images. A method whose maps depend on what the model learnt loses that correlation; one that only
echoes the input (an edge detector) keeps it. Verdict: pass when the correlation with every layer
randomized is below the threshold (default 0.5). Each layer is re-initialised from the same seed
(as Quantus does), so its random weights do not depend on the order of the cascade, and the end of
the cascade is the fully randomized model that smooth and efficient MPRT use (mprt.py).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from xaicli.explain.core import is_scripted
from xaicli.explain.layers import module_calls
from xaicli.explain.measures import ranks
from xaicli.explain.measures.base import Column, Context, measure, per_image, score

DEFAULT_THRESHOLD = 0.5
CAUSES = {
    "nan": "non-finite values: the model or the method produced NaN/Inf gradients (a diverged checkpoint, "
           "log(0) or division by zero in the model, or an overflow in reduced precision)",
    "zero": "all zero: the target score has no gradient with respect to the input (saturated softmax or "
            "sigmoid, dead ReLUs, a constant target), or for CAMs no positive evidence at the chosen layer",
    "constant": "constant: the map carries no spatial information (a layer too coarse to localise, "
                "e.g. 1 x 1, or a baseline equal to the input)",
}


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks of a 1-D tensor, ties sharing their average rank (as Spearman's correlation needs)."""
    return ranks.average_ranks(values.detach().double().cpu())


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two maps (flattened); NaN when either is constant."""
    return float(ranks.spearman_rows(a.reshape(1, -1), b.reshape(1, -1))[0])


def map_correlation(original: torch.Tensor, randomized: torch.Tensor) -> float:
    """Spearman of |original| and |randomized| for one map (ranks.magnitude_correlation)."""
    return float(ranks.magnitude_correlation(original.unsqueeze(0), randomized.unsqueeze(0))[0])


def nanmean(values: torch.Tensor) -> float:
    kept = values[~values.isnan()]
    return float(kept.mean()) if len(kept) else float("nan")


def mean_spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    return nanmean(ranks.magnitude_correlation(a, b))


def parameter_layers(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Names of leaf modules with parameters, from the top (last called) down to the input; for a
    TorchScript model, whose calls cannot be hooked, in the reverse order of their definition."""
    if is_scripted(model):
        return [n for n, m in model.named_modules() if not list(m.children()) and
                any(True for _ in m.parameters(recurse=False))][::-1]
    names = []
    for call in module_calls(model, example, leaves_only=True):
        if any(True for _ in call.module.parameters(recurse=False)) and call.name not in names:
            names.append(call.name)
    return names[::-1]


def randomize_(module: nn.Module) -> None:
    """Re-initialise one layer: its own reset_parameters, else Gaussian weights of the same scale."""
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            nn.init.normal_(module.weight, 1.0, 0.5)  # reset alone gives weight 1, bias 0: not random
            nn.init.normal_(module.bias, 0.0, 0.5)
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            p.normal_(0.0, float(p.std()) if p.numel() > 1 and float(p.std()) > 0 else 0.05)


def randomize_seeded_(module: nn.Module, seed: int, device: torch.device) -> None:
    """randomize_ from a fresh seed, outside the global random stream: every layer gets the same
    weights whatever the order the layers are randomized in (Quantus seeds each layer the same way)."""
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        randomize_(module)


def fully_randomized(model: nn.Module, example: torch.Tensor, seed: int = 0) -> nn.Module:
    """A copy of the model with every layer that has parameters randomized: the end of the cascade."""
    randomized = copy.deepcopy(model)
    modules = dict(randomized.named_modules())
    for name in parameter_layers(model, example):
        randomize_seeded_(modules[name], seed, example.device)
    return randomized


def randomization_test(method, model: nn.Module, inputs: torch.Tensor, target, params: dict | None = None,
                       threshold: float = DEFAULT_THRESHOLD, seed: int = 0,
                       original: torch.Tensor | None = None) -> dict:
    """Cascading randomization from the top layer; a verdict against `threshold`. Also returns the
    per-image correlations with every layer randomized ("per_image") and that model and its maps
    ("randomized", "randomized_maps"), which the other randomisation measures reuse."""
    params = params or {}
    if original is None:
        original = method(model, inputs, target, **params)
    randomized = copy.deepcopy(model)
    modules = dict(randomized.named_modules())
    cascade, per_image_final, maps = [], torch.full((len(inputs),), float("nan")), None
    for name in parameter_layers(model, inputs):
        randomize_seeded_(modules[name], seed, inputs.device)
        maps = method(randomized, inputs, target, **params).detach()
        per_image_final = ranks.magnitude_correlation(original, maps)
        cascade.append({"layer": name, "spearman": nanmean(per_image_final)})
    final = cascade[-1]["spearman"] if cascade else float("nan")
    if final != final:  # NaN: a constant map on one side
        verdict = "undetermined"
    else:
        verdict = "pass" if final < threshold else "fail"
    return {"verdict": verdict, "threshold": threshold, "final_spearman": final, "cascade": cascade,
            "rule": f"pass when the mean Spearman rank correlation of |maps| with every layer randomized "
                    f"(top layer first, cumulatively) is below {threshold}",
            "per_image": per_image_final, "randomized": randomized, "randomized_maps": maps}


def randomized_maps(ctx: Context) -> tuple[nn.Module, torch.Tensor]:
    """The fully randomized model and the method's maps on it, computed once per method and shared."""
    if "randomized" not in ctx.shared:
        model = fully_randomized(ctx.model, ctx.inputs, ctx.settings.seed)
        ctx.shared["randomized"] = model, ctx.method(model, ctx.inputs, ctx.target, **ctx.params).detach()
    return ctx.shared["randomized"]


def degenerate_maps(maps: torch.Tensor) -> dict:
    """Indices of images whose map is non-finite, all zero or constant, and the likely causes."""
    flat = maps.detach().flatten(1)
    finite = torch.isfinite(flat).all(1)
    safe = flat.nan_to_num(0.0, posinf=0.0, neginf=0.0)
    zero = finite & (safe == 0).all(1)
    spread = safe.amax(1) - safe.amin(1)
    scale = safe.abs().amax(1)
    constant = finite & ~zero & (spread <= 1e-7 * scale)
    found = {"nan": (~finite).nonzero().flatten().tolist(), "zero": zero.nonzero().flatten().tolist(),
             "constant": constant.nonzero().flatten().tolist()}
    return {kind: {"images": idx, "cause": CAUSES[kind]} for kind, idx in found.items() if idx}


@measure("mprt",
         Column("randomization_verdict", "randomization test", classed=True,
                value=lambda m: m.get("randomization", {}).get("verdict", "not run")),
         score("randomization_spearman", "MPRT Spearman", "lower", "randomisation"), randomisation=True)
def randomization(ctx: Context) -> dict:
    """The cascading randomization test (model parameter randomisation test, MPRT)."""
    result = randomization_test(ctx.method, ctx.model, ctx.inputs, ctx.target, ctx.params, ctx.settings.threshold,
                                ctx.settings.seed, original=ctx.maps)
    model, maps = result.pop("randomized"), result.pop("randomized_maps")
    if maps is not None:
        ctx.shared["randomized"] = model, maps
    return {"randomization": result, **per_image(randomization_spearman=result.pop("per_image"))}


@measure("degenerate", Column("degenerate", "degenerate maps", value=lambda m: ";".join(
    f"{k}:{len(v['images'])}" for k, v in m.get("degenerate", {}).items())), always=True)
def degenerate(ctx: Context) -> dict:
    return {"degenerate": degenerate_maps(ctx.maps)}
