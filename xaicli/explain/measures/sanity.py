"""Sanity checks: the model-parameter randomization test (Adebayo et al. 2018) and degenerate maps.

Cascading randomization: starting from the top (output) layer, each layer with parameters is
re-initialised in turn, cumulatively, on a copy of the model, and the method's maps are recomputed.
The Spearman rank correlation between the absolute original and randomized maps is averaged over
images. A method whose maps depend on what the model learnt loses that correlation; one that only
echoes the input (an edge detector) keeps it. Verdict: pass when the correlation with every layer
randomized is below the threshold (default 0.5).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from xaicli.explain.layers import module_calls
from xaicli.explain.measures.base import Column, Context, measure

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
    order = values.argsort(stable=True)
    sorted_vals = values[order]
    _, inverse, counts = torch.unique_consecutive(sorted_vals, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    mean_rank = ends - (counts.double() - 1) / 2 - 1  # 0-based average position of each tie group
    ranks = torch.empty_like(values, dtype=torch.float64)
    ranks[order] = mean_rank[inverse]
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two maps (flattened); NaN when either is constant."""
    ra, rb = average_ranks(a.flatten().double().cpu()), average_ranks(b.flatten().double().cpu())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = ra.norm() * rb.norm()
    return float("nan") if denom == 0 else float((ra * rb).sum() / denom)


def map_correlation(original: torch.Tensor, randomized: torch.Tensor) -> float:
    """Spearman of |original| and |randomized|; a randomized map that became constant (a CAM that is
    all zero once the weights are random) shares no ranking with a non-constant original: 0."""
    rho = spearman(original.abs(), randomized.abs())
    if rho != rho and float(original.abs().max() - original.abs().min()) > 0:
        return 0.0
    return rho


def mean_spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    vals = torch.tensor([map_correlation(x, y) for x, y in zip(a, b, strict=True)])
    vals = vals[~vals.isnan()]
    return float(vals.mean()) if len(vals) else float("nan")


def parameter_layers(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Names of leaf modules with parameters, from the top (last called) down to the input."""
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


def randomization_test(method, model: nn.Module, inputs: torch.Tensor, target, params: dict | None = None,
                       threshold: float = DEFAULT_THRESHOLD, seed: int = 0,
                       original: torch.Tensor | None = None) -> dict:
    """Cascading randomization from the top layer; a verdict against `threshold`."""
    params = params or {}
    if original is None:
        original = method(model, inputs, target, **params)
    layers = parameter_layers(model, inputs)
    randomized = copy.deepcopy(model)
    modules = dict(randomized.named_modules())
    cascade = []
    devices = [inputs.device.index or 0] if inputs.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for name in layers:
            randomize_(modules[name])
            maps = method(randomized, inputs, target, **params)
            cascade.append({"layer": name, "spearman": mean_spearman(original, maps)})
    final = cascade[-1]["spearman"] if cascade else float("nan")
    if final != final:  # NaN: a constant map on one side
        verdict = "undetermined"
    else:
        verdict = "pass" if final < threshold else "fail"
    return {"verdict": verdict, "threshold": threshold, "final_spearman": final, "cascade": cascade,
            "rule": f"pass when the mean Spearman rank correlation of |maps| with every layer randomized "
                    f"(top layer first, cumulatively) is below {threshold}"}


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


@measure("randomization",
         Column("randomization_verdict", "randomization test", classed=True,
                value=lambda m: m.get("randomization", {}).get("verdict", "not run")),
         Column("randomization_spearman", "Spearman", "lower",
                value=lambda m: m.get("randomization", {}).get("final_spearman")))
def randomization(ctx: Context) -> dict:
    """The cascading randomization test, when settings.sanity is on."""
    if not ctx.settings.sanity:
        return {}
    return {"randomization": randomization_test(ctx.method, ctx.model, ctx.inputs, ctx.target, ctx.params,
                                                ctx.settings.threshold, ctx.settings.seed, original=ctx.maps)}


@measure("degenerate", Column("degenerate", "degenerate maps", value=lambda m: ";".join(
    f"{k}:{len(v['images'])}" for k, v in m.get("degenerate", {}).items())))
def degenerate(ctx: Context) -> dict:
    return {"degenerate": degenerate_maps(ctx.maps)}
