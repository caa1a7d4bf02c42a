"""Analytic checks, the contract (shape, device, model left as found), chunking and out-of-memory retry."""

from __future__ import annotations

import logging

import pytest
import torch
from explain_helpers import OutOfMemoryAbove, tiny_cnn, tiny_inputs
from torch import nn

from xaicli.errors import ConfigError
from xaicli.explain.registry import METHODS, resolve

TARGET = torch.tensor([0, 3, 1])


def _linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12 * 12, 5)).eval()


def test_linear_saliency_is_abs_weight_row():
    model, x = _linear(), tiny_inputs()
    sal = resolve("saliency")(model, x, TARGET)
    w = model[1].weight.detach()
    expected = w[TARGET].abs().view(3, 1, 12, 12)
    torch.testing.assert_close(sal, expected)


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_trapezoid", "riemann_left"])
def test_linear_integrated_gradients_is_input_minus_baseline_times_weight(rule):
    model, x = _linear(), tiny_inputs()
    base = torch.full_like(x, -0.5)
    ig = resolve("integrated_gradients")(model, x, TARGET, n_steps=7, rule=rule, baseline=base)
    expected = (x - base) * model[1].weight.detach()[TARGET].view(3, 1, 12, 12)
    torch.testing.assert_close(ig, expected, rtol=1e-5, atol=1e-6)


def test_integrated_gradients_completeness_on_a_cnn():
    """sum(IG) = f(x) - f(baseline), within 1% of |f(x) - f(baseline)| at 128 steps of either rule
    (the ReLU kinks make the integrand non-smooth, so more steps are needed than for a smooth model)."""
    model, x = tiny_cnn(), tiny_inputs()
    base = torch.full_like(x, -2.0)
    with torch.no_grad():
        gap = model(x).gather(1, TARGET[:, None])[:, 0] - model(base).gather(1, TARGET[:, None])[:, 0]
    assert (gap.abs() > 0.1).all()
    for rule in ("gausslegendre", "riemann_trapezoid"):
        ig = resolve("integrated_gradients")(model, x, TARGET, n_steps=128, rule=rule, baseline=base)
        err = (ig.flatten(1).sum(1) - gap).abs()
        assert (err <= 0.01 * gap.abs()).all(), (rule, err, gap)


@pytest.mark.parametrize("name", METHODS.names())
def test_contract_shape_device_and_model_left_as_found(name):
    model, x = tiny_cnn(), tiny_inputs()
    model.fc.weight.requires_grad_(False)  # an unusual flag that must survive
    model.train()  # and an unusual mode
    hooks_before = sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())
    method = resolve(name)
    out = method(model, x, TARGET, **method.accepts({"n_steps": 4, "n_samples": 2}))
    assert out.shape == x.shape and out.device == x.device and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == [True] * 4 + [False, True]
    assert sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules()) == hooks_before
    assert not x.requires_grad and x.grad is None


@pytest.mark.parametrize("name", ["integrated_gradients", "smoothgrad", "vargrad", "gradient_shap", "occlusion",
                                  "saliency", "gradcam", "smoothgrad:integrated_gradients"])
def test_chunked_equals_unchunked(name):
    model, x = tiny_cnn(), tiny_inputs()
    method = resolve(name)
    params = method.accepts({"n_steps": 6, "n_samples": 3, "window": 3, "stride": 2, "stdevs": 0.1})
    whole = method(model, x, TARGET, chunk=10_000, **params)
    pieces = method(model, x, TARGET, chunk=5, **params)
    assert whole.abs().max() > 0
    torch.testing.assert_close(pieces, whole, rtol=1e-5, atol=1e-6 * float(whole.abs().max()))


@pytest.mark.parametrize("name", ["integrated_gradients", "smoothgrad", "occlusion"])
def test_out_of_memory_halves_the_chunk_and_gives_the_same_result(name, caplog):
    inner, x = tiny_cnn(), tiny_inputs()
    method = resolve(name)
    params = method.accepts({"n_steps": 8, "n_samples": 8, "chunk": 64})
    expected = method(inner, x, TARGET, **params)
    flaky = OutOfMemoryAbove(inner, limit=9)
    with caplog.at_level(logging.WARNING, logger="xaicli.explain"):
        got = method(flaky, x, TARGET, **params)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6 * float(expected.abs().max()))
    import re

    tries = [(int(a), int(b)) for a, b in re.findall(r"out of memory with (\d+) images per pass; retrying with (\d+)",
                                                    caplog.text)]
    assert tries, "no out-of-memory retry was logged"
    assert all(after == before // 2 for before, after in tries)  # halved each time
    assert tries[-1][1] <= 9 < tries[-1][0]  # and stopped halving once it fit
    assert max(flaky.sizes) > 9 and all(s <= 9 for s in flaky.sizes[-3:])


def test_out_of_memory_at_one_image_is_a_clear_error():
    from xaicli.errors import XaiError

    flaky = OutOfMemoryAbove(tiny_cnn(), limit=0)
    with pytest.raises(XaiError, match="single image"):
        resolve("saliency")(flaky, tiny_inputs(), TARGET, chunk=4)


def test_sum_per_image_takes_items_image_major_and_sums_them_per_image():
    from xaicli.explain.chunks import sum_per_image

    values = torch.randn(4, 3, 2)  # (image, sub-item, row)
    seen = []

    def compute(img, sub):
        seen.append((img.tolist(), sub.tolist()))
        return values[img, sub]

    out = sum_per_image(torch.zeros(4, 2), 3, 5, compute)
    torch.testing.assert_close(out, values.sum(1))
    assert [len(i) for i, _ in seen] == [5, 5, 2]
    assert seen[0] == ([0, 0, 0, 1, 1], [0, 1, 2, 0, 1])  # image-major: a chunk's images are contiguous
    assert all(i == sorted(i) for i, _ in seen)


def test_budget_sets_the_chunk():
    from xaicli.explain.chunks import bytes_per_image, chunk_size

    model, x = tiny_cnn(), tiny_inputs()
    per = bytes_per_image(model, x)
    assert chunk_size(model, x, budget_mb=per * 10 / 2**20) == 10
    assert chunk_size(model, x, budget_mb=1e-9) == 1


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd saves for the backward pass of x (distinct tensors, parameters and buffers left out)."""
    from xaicli.explain.core import parameters_frozen

    own = {t.data_ptr() for t in [*model.parameters(), *model.buffers()]}
    saved: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in own:
            saved[(t.data_ptr(), t.numel())] = t.numel() * t.element_size()
        return t

    with parameters_frozen(model), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x.detach().requires_grad_(True))
    return sum(saved.values())


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "convnext_tiny", "vit_b_16"])
def test_the_per_image_estimate_covers_what_autograd_saves_with_room_for_the_gradients(name):
    """The chunk's memory estimate (chunks.ACTIVATION_FACTOR x the modules' outputs) is at least 1.5x the
    activations autograd keeps per image, on architectures with in-place ReLUs, residual adds, depthwise
    convolutions, layer norm and attention."""
    import torchvision

    from xaicli.explain.chunks import bytes_per_image

    torch.manual_seed(0)
    side = 224 if name == "vit_b_16" else 64
    model = torchvision.models.get_model(name, weights=None).eval()
    x = torch.randn(2, 3, side, side)
    per_image = saved_activation_bytes(model, x) / 2
    assert bytes_per_image(model, x) >= 1.5 * per_image, name


def test_cpu_chunks_keep_each_activation_under_the_cap():
    from xaicli.explain.chunks import CPU_TENSOR_CAP, activation_profile, chunk_size

    model = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.Flatten(), nn.Linear(64 * 12 * 12, 2))
    x = tiny_inputs()
    _, largest = activation_profile(model, x)
    assert largest == 64 * 12 * 12 * 4
    assert chunk_size(model, x, budget_mb=1e6) == CPU_TENSOR_CAP // largest
    assert chunk_size(model, x, budget_mb=1e6, chunk=7) == 7


def test_gradcam_layer_is_the_last_feature_map_not_the_pool_and_mlp_has_none():
    from xaicli.explain.layers import cam_layer

    model = tiny_cnn()
    assert cam_layer(model, tiny_inputs())[0] == "relu2"  # the max-pool after it only resamples
    with pytest.raises(ConfigError, match="spatial output"):
        resolve("gradcam")(_linear(), tiny_inputs(), TARGET)


def test_targets_change_the_map():
    model, x = tiny_cnn(), tiny_inputs()
    a = resolve("saliency")(model, x, 0)
    b = resolve("saliency")(model, x, torch.tensor([1, 1, 1]))
    assert not torch.allclose(a, b)


def test_unknown_names_suggest_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'saliency'"):
        resolve("salency")
    with pytest.raises(ConfigError, match="smoothgrad"):
        resolve("smothgrad:saliency")


def test_captum_adapter_runs_other_methods():
    pytest.importorskip("captum")
    model, x = tiny_cnn(), tiny_inputs()
    for name in ("captum:DeepLift", "captum:FeatureAblation", "captum:LayerGradCam"):
        method = resolve(name)
        out = method(model, x, TARGET, **method.accepts({"baseline": "zero"}))
        assert out.shape == x.shape and torch.isfinite(out).all() and out.abs().max() > 0
    with pytest.raises(ConfigError, match="not a Captum"):
        resolve("captum:DeepLif")


@pytest.mark.parametrize("name", ["smoothgrad", "vargrad", "smoothgrad:input_x_gradient"])
def test_smoothgrad_noise_follows_each_image_not_its_batch(name):
    """Without input_range the noise level is sigma x each image's own range, so an image's map is the
    same alone and beside a brighter image (its noise draws are the first ones in both cases)."""
    from xaicli.explain.methods.noise import noise_draws

    model, x = tiny_cnn(), tiny_inputs()
    x[1] *= 6  # a neighbour with a much wider range
    assert torch.equal(noise_draws(x[:1], 4, 1.0, 0), noise_draws(x, 4, 1.0, 0)[:1])
    method = resolve(name)
    alone = method(model, x[:1], TARGET[:1], n_samples=4, sigma=0.2)
    together = method(model, x, TARGET, n_samples=4, sigma=0.2)
    assert alone.abs().max() > 0
    torch.testing.assert_close(together[:1], alone)


@pytest.mark.parametrize("baseline", ["black", "uniform"])
def test_baselines_without_an_input_range_follow_each_image_not_its_batch(baseline):
    model, x = tiny_cnn(), tiny_inputs()
    x[1] *= 6
    method = resolve("integrated_gradients")
    alone = method(model, x[:1], TARGET[:1], n_steps=4, baseline=baseline)
    together = method(model, x, TARGET, n_steps=4, baseline=baseline)
    assert alone.abs().max() > 0
    torch.testing.assert_close(together[:1], alone)


@pytest.mark.parametrize("name", [*METHODS.names(), "smoothgrad:integrated_gradients", "captum:IntegratedGradients",
                                  "captum:LayerGradCam"])
def test_float64_model_and_inputs_give_float64_maps(name):
    if name.startswith("captum:"):
        pytest.importorskip("captum")
    model, x = tiny_cnn(), tiny_inputs()
    method = resolve(name)
    params = method.accepts({"n_steps": 4, "n_samples": 2, "window": 3, "stride": 2})
    single = method(model, x, TARGET, **params)
    double = method(model.double(), x.double(), TARGET, **params)
    assert double.dtype == torch.float64 and double.shape == x.shape
    torch.testing.assert_close(double.float(), single, rtol=1e-3, atol=1e-4 * float(single.abs().max()))


def test_occlusion_counts_its_passes_from_the_input_size():
    from xaicli.explain.methods.occlusion import window_masks

    params = {"window": 4, "stride": 2}
    for h, w in ((13, 17), (64, 64)):
        assert resolve("occlusion").passes(params, (1, h, w)) == len(window_masks(h, w, 4, 2, "cpu"))
    assert resolve("smoothgrad:occlusion").passes({**params, "n_samples": 3}, (1, 13, 17)) == 3 * 6 * 8
