"""Every native method matches Captum's implementation of the same method (same rule, baselines and
noise draws) within 1e-4 of the largest absolute attribution. Grad-CAM++ has no Captum version; it
is checked against a direct transcription of the paper's formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from explain_helpers import assert_close_to_scale, tiny_cnn, tiny_inputs

from xaicli.explain.registry import METHODS, resolve

captum_attr = pytest.importorskip("captum.attr")
TARGET = torch.tensor([0, 3, 1])
RANGE = (-2.0, 3.0)


def _patch_noise(monkeypatch, noise: torch.Tensor) -> None:
    """Make Captum's NoiseTunnel add exactly our noise (N, S, ...) in its (N * S) layout."""

    def add(input, stdev, nt_samples_partition):
        flat = noise.reshape(-1, *input.shape[1:])
        return input.repeat_interleave(nt_samples_partition, dim=0) + flat

    monkeypatch.setattr(captum_attr.NoiseTunnel, "_add_noise_to_input", staticmethod(add))


def _captum_saliency(model, x, t):
    return captum_attr.Saliency(model).attribute(x, target=t)


def _noise_ref(kind, inner_cls, inner_kwargs=None):
    def ref(model, x, t, monkeypatch):
        from xaicli.explain.methods.noise import noise_draws, noise_stdev

        noise = noise_draws(x, 4, noise_stdev(x, 0.15, RANGE), 0)
        _patch_noise(monkeypatch, noise)
        nt = captum_attr.NoiseTunnel(inner_cls(model))
        return nt.attribute(x, nt_type=kind, nt_samples=4, stdevs=0.1, target=t, **(inner_kwargs or {}))

    return ref


def _gradcam_pp_reference(model, x, t, monkeypatch):
    """Grad-CAM++ image by image with plain autograd, from the paper's closed form."""
    layer = model.relu2  # the automatic layer: the activation after the last convolution
    maps = []
    for i in range(len(x)):
        acts: dict = {}
        h = layer.register_forward_hook(lambda m, inp, out, acts=acts: acts.__setitem__("a", out))
        score = model(x[i:i + 1])[0, t[i]]
        h.remove()
        a = acts["a"][0]
        g = torch.autograd.grad(score, acts["a"])[0][0]
        weights = []
        for c in range(a.shape[0]):
            gc, ac = g[c], a[c]
            alpha = gc ** 2 / (2 * gc ** 2 + ac.sum() * gc ** 3 + 1e-7)
            alpha = torch.where(gc != 0, alpha, torch.zeros_like(alpha))
            weights.append((alpha * gc.clamp(min=0)).sum())
        cam = torch.relu(sum(w * a[c] for c, w in enumerate(weights)))
        maps.append(cam[None, None])
    cams = torch.cat(maps).detach()
    return torch.nn.functional.interpolate(cams, size=x.shape[2:], mode="bilinear", align_corners=False)


def _gradient_shap_ref(model, x, t, monkeypatch):
    from xaicli.explain.methods.integrated import gradient_shap_draws

    refs = torch.randn(6, *x.shape[1:], generator=torch.Generator().manual_seed(5))
    idx, noise, alpha = gradient_shap_draws(x, len(refs), 4, 0.2, 0)
    _patch_noise(monkeypatch, noise)
    monkeypatch.setattr(np.random, "choice", lambda n, size: idx.reshape(-1).numpy())
    monkeypatch.setattr(np.random, "uniform", lambda lo, hi, size: alpha.reshape(-1).double().numpy())
    return captum_attr.GradientShap(model).attribute(x, baselines=refs, n_samples=4, stdevs=0.2, target=t)


def _occlusion_ref(model, x, t, monkeypatch):
    return captum_attr.Occlusion(model).attribute(x, sliding_window_shapes=(1, 3, 3), strides=(1, 2, 2),
                                                  baselines=0.5, target=t)


# name -> (reference, params for our method)
CASES = {
    "saliency": (lambda m, x, t, mp: _captum_saliency(m, x, t), {}),
    "input_x_gradient": (lambda m, x, t, mp: captum_attr.InputXGradient(m).attribute(x, target=t), {}),
    "integrated_gradients": (
        lambda m, x, t, mp: captum_attr.IntegratedGradients(m).attribute(
            x, baselines=torch.full_like(x, -2.0), target=t, n_steps=16, method="gausslegendre"),
        {"n_steps": 16, "rule": "gausslegendre", "baseline": "black", "input_range": RANGE}),
    "smoothgrad": (_noise_ref("smoothgrad", captum_attr.Saliency),
                   {"n_samples": 4, "sigma": 0.15, "input_range": RANGE}),
    "smoothgrad_sq": (_noise_ref("smoothgrad_sq", captum_attr.Saliency),
                      {"n_samples": 4, "sigma": 0.15, "input_range": RANGE}),
    "vargrad": (_noise_ref("vargrad", captum_attr.Saliency), {"n_samples": 4, "sigma": 0.15, "input_range": RANGE}),
    "gradient_shap": (_gradient_shap_ref, {"n_samples": 4, "stdevs": 0.2,
                                           "references": torch.randn(6, 1, 12, 12,
                                                                     generator=torch.Generator().manual_seed(5))}),
    "guided_backprop": (lambda m, x, t, mp: captum_attr.GuidedBackprop(m).attribute(x, target=t), {}),
    "gradcam": (lambda m, x, t, mp: captum_attr.LayerAttribution.interpolate(
        captum_attr.LayerGradCam(m, m.relu2).attribute(x, target=t, relu_attributions=True), x.shape[2:],
        interpolate_mode="bilinear"), {}),
    "gradcam_pp": (_gradcam_pp_reference, {}),
    "guided_gradcam": (lambda m, x, t, mp: captum_attr.GuidedGradCam(m, m.relu2).attribute(
        x, target=t, interpolate_mode="bilinear"), {}),
    "occlusion": (_occlusion_ref, {"window": 3, "stride": 2, "baseline": torch.tensor(0.5)}),
}


def test_every_registered_method_has_a_parity_case():
    assert sorted(CASES) == METHODS.names()


@pytest.mark.parametrize("name", METHODS.names())
def test_parity_with_reference(name, monkeypatch):
    model, x = tiny_cnn(), tiny_inputs()
    reference, params = CASES[name]
    ours = resolve(name)(model, x, TARGET, **params)
    ref = reference(model, x.clone(), TARGET, monkeypatch).detach()
    assert_close_to_scale(ours, ref)


@pytest.mark.parametrize("rule", ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"])
@pytest.mark.parametrize("baseline", ["zero", "mean", "blur", "uniform"])
def test_integrated_gradients_rules_and_baselines(rule, baseline):
    from xaicli.explain.methods.integrated import integrated_gradients, make_baseline

    model, x = tiny_cnn(), tiny_inputs()
    base = make_baseline(x, baseline, RANGE, None, 2.0, 3)
    ours = integrated_gradients(model, x, TARGET, n_steps=8, rule=rule, baseline=baseline, input_range=RANGE,
                                blur_sigma=2.0, seed=3)
    ref = captum_attr.IntegratedGradients(model).attribute(x, baselines=base, target=TARGET, n_steps=8,
                                                           method=rule)
    if rule == "riemann_trapezoid":  # Captum's trapezoid weights sum to 1 - 1/n (ours: to 1); see quadrature()
        ref = ref * 8 / 7
    assert_close_to_scale(ours, ref)


def test_smoothgrad_wraps_any_method(monkeypatch):
    from xaicli.explain.methods.noise import noise_draws, noise_stdev

    model, x = tiny_cnn(), tiny_inputs()
    ours = resolve("smoothgrad:integrated_gradients")(model, x, TARGET, n_samples=3, sigma=0.1, input_range=RANGE,
                                                      n_steps=8, rule="riemann_middle")
    _patch_noise(monkeypatch, noise_draws(x, 3, noise_stdev(x, 0.1, RANGE), 0))
    ref = captum_attr.NoiseTunnel(captum_attr.IntegratedGradients(model)).attribute(
        x, nt_type="smoothgrad", nt_samples=3, stdevs=0.1, target=TARGET, n_steps=8, method="riemann_middle")
    assert_close_to_scale(ours, ref)


@pytest.mark.parametrize("baseline", ["uniform", "mean", "black"])
def test_smoothgrad_builds_the_inner_baseline_from_the_clean_images(baseline, monkeypatch):
    """Without input_range or mean_image (a Python call, generated images) the inner method's baseline
    comes from each clean image, repeated over its noisy copies as Captum's NoiseTunnel does: the
    result does not depend on the chunk, and a chunk of one image does not give IG a zero path."""
    from xaicli.explain.baselines import make_baseline
    from xaicli.explain.methods.noise import noise_draws, noise_stdev

    model, x = tiny_cnn(), tiny_inputs()
    params = {"n_samples": 3, "sigma": 0.1, "n_steps": 8, "rule": "riemann_middle", "baseline": baseline, "seed": 2}
    method = resolve("smoothgrad:integrated_gradients")
    whole = method(model, x, TARGET, chunk=10_000, **params)
    assert_close_to_scale(method(model, x, TARGET, chunk=1, **params), whole)
    _patch_noise(monkeypatch, noise_draws(x, 3, noise_stdev(x, 0.1), 2))
    ref = captum_attr.NoiseTunnel(captum_attr.IntegratedGradients(model)).attribute(
        x, nt_type="smoothgrad", nt_samples=3, stdevs=0.1, target=TARGET, baselines=make_baseline(x, baseline, seed=2),
        n_steps=8, method="riemann_middle")
    assert_close_to_scale(whole, ref)
