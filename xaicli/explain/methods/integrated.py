"""Integrated gradients (Sundararajan et al. 2017) and GradientSHAP (Lundberg and Lee 2017).

The work is a flat list of (image, step) items computed in chunks from the memory budget, so one
image's path may span two chunks and a chunk may hold many images: the chunk is the only knob.
"""

from __future__ import annotations

import numpy as np
import torch

from xaicli.errors import ConfigError
from xaicli.explain.baselines import make_baseline
from xaicli.explain.chunks import chunk_size, sum_per_image
from xaicli.explain.core import expand_target, generator_for, input_gradient, parameters_frozen
from xaicli.explain.registry import register_method
from xaicli.registry import did_you_mean

RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


def quadrature(n_steps: int, rule: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(alphas, weights) of an integration rule on [0, 1]: the points Captum uses.

    One deliberate difference: Captum's trapezoid rule weighs n points spaced 1/(n-1) apart by 1/n
    (halved at the ends), so its weights sum to 1 - 1/n and IG loses completeness by that factor. Ours
    weighs them by 1/(n-1), the trapezoid rule itself; the parity test states the factor.
    """
    if rule == "gausslegendre":
        points, weights = np.polynomial.legendre.leggauss(n_steps)
        return torch.tensor(0.5 * (1 + points)), torch.tensor(0.5 * weights)
    if rule not in RULES:
        raise ConfigError(f"integration rule '{rule}' unknown{did_you_mean(rule, list(RULES))}; "
                          f"choose one of: {', '.join(RULES)}")
    if n_steps < 2:
        raise ValueError("Riemann rules need at least 2 steps")
    n = n_steps
    weights = torch.full((n,), 1.0 / n, dtype=torch.float64)
    if rule == "riemann_trapezoid":
        weights = torch.full((n,), 1.0 / (n - 1), dtype=torch.float64)
        weights[0] /= 2
        weights[-1] /= 2
        alphas = torch.linspace(0, 1, n)
    elif rule == "riemann_left":
        alphas = torch.linspace(0, 1 - 1 / n, n)
    elif rule == "riemann_middle":
        alphas = torch.linspace(1 / (2 * n), 1 - 1 / (2 * n), n)
    else:
        alphas = torch.linspace(1 / n, 1, n)
    return alphas.double(), weights


def path_gradients(model, inputs, baselines, target, alphas, weights, budget_mb=None, chunk=None):
    """sum_k weights[k] * grad(baseline + alphas[k] (x - baseline)) per image, chunked over all
    (image, step) pairs."""
    steps = len(alphas)
    target = expand_target(target, len(inputs), inputs.device)
    alphas = alphas.to(inputs.device, inputs.dtype)
    weights = weights.to(inputs.device, inputs.dtype)
    diff = inputs - baselines
    shape = (-1,) + (1,) * (inputs.ndim - 1)

    def compute(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        points = baselines[img] + alphas[step].view(shape) * diff[img]
        grads = input_gradient(model, points, None if target is None else target[img])
        return grads * weights[step].view(shape)

    with parameters_frozen(model):
        return sum_per_image(torch.zeros_like(inputs), steps, chunk_size(model, inputs, budget_mb, chunk), compute)


def _passes(params: dict, shape: tuple) -> int:
    return int(params.get("n_steps", 50))


@register_method("integrated_gradients", signed=True, passes=_passes)
def integrated_gradients(model, inputs, target=None, n_steps: int = 50, rule: str = "gausslegendre",
                         baseline="zero", input_range=None, mean_image=None, blur_sigma: float = 4.0,
                         seed: int = 0, budget_mb=None, chunk=None):
    """(x - baseline) * the path integral of the gradient, by a Riemann or Gauss-Legendre rule."""
    base = make_baseline(inputs, baseline, input_range, mean_image, blur_sigma, seed)
    alphas, weights = quadrature(n_steps, rule)
    return (inputs - base) * path_gradients(model, inputs, base, target, alphas, weights, budget_mb, chunk)


def gradient_shap_draws(inputs: torch.Tensor, n_references: int, n_samples: int, stdevs: float, seed: int):
    """The random draws of GradientSHAP, each (N, n_samples, ...): reference index, input noise and
    the point on the path. Public so a test can feed the same draws to Captum. Drawn in float32 whatever
    the inputs' precision, so a float64 model gets the same draws."""
    g = generator_for(inputs.device, seed)
    n = len(inputs)
    idx = torch.randint(n_references, (n, n_samples), generator=g, device=inputs.device)
    noise = torch.randn((n, n_samples, *inputs.shape[1:]), generator=g, device=inputs.device).to(inputs.dtype) * stdevs
    alpha = torch.rand((n, n_samples), generator=g, device=inputs.device).to(inputs.dtype)
    return idx, noise, alpha


def _shap_passes(params: dict, shape: tuple) -> int:
    return int(params.get("n_samples", 20))


@register_method("gradient_shap", signed=True, passes=_shap_passes)
def gradient_shap(model, inputs, target=None, n_samples: int = 20, stdevs: float = 0.0, references=None,
                  baseline="zero", input_range=None, mean_image=None, blur_sigma: float = 4.0,
                  seed: int = 0, budget_mb=None, chunk=None):
    """Expected gradients x (noisy input - reference) at random points between a random reference
    and the noisy input. `references` (R, C, H, W) is the baseline distribution; without it, the
    single `baseline` of each image."""
    n = len(inputs)
    if references is None:
        refs = make_baseline(inputs, baseline, input_range, mean_image, blur_sigma, seed)
        per_image = True
    else:
        refs = references.to(inputs)
        per_image = False
    idx, noise, alpha = gradient_shap_draws(inputs, 1 if per_image else len(refs), n_samples, stdevs, seed)
    target_n = expand_target(target, n, inputs.device)
    shape = (-1,) + (1,) * (inputs.ndim - 1)

    def compute(img: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        x_noisy = inputs[img] + noise[img, s]
        ref = refs[img] if per_image else refs[idx[img, s]]
        al = alpha[img, s].view(shape)
        grads = input_gradient(model, al * x_noisy + (1 - al) * ref, None if target_n is None else target_n[img])
        return grads * (x_noisy - ref)

    with parameters_frozen(model):
        total = sum_per_image(torch.zeros_like(inputs), n_samples, chunk_size(model, inputs, budget_mb, chunk),
                              compute)
    return total / n_samples
