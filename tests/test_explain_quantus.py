"""Parity with Quantus 0.6 (a dev extra) for every measure it shares with the scorecard, on fixed
seeds and the same perturbation settings, and the places where Quantus is wrong.

Tolerances: perturbation curves and accuracies exactly (the same pixels removed, the same model);
ROAD's imputation within 1e-5 (our conjugate gradients stop at a relative residual of 1e-6, Quantus
solves the sparse system directly); sparseness and complexity within 1e-6 (Quantus adds its 1e-7
after normalising by the batch's maximum, we by each map's); correlations and entropies within 1e-9.
Randomized weights match because both re-initialise every layer after seeding the global generator
with the same number (Quantus seeds with its `seed + 1`). Our noise (smooth MPRT, ROAD) is drawn by
torch, Quantus's by numpy, so those measures are compared without noise."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from explain_helpers import tiny_cnn, tiny_inputs
from torch import nn

from xaicli.explain.measures import complexity, flipping, mprt, ranks, road, sanity
from xaicli.explain.measures.faithfulness import curves, pixel_ranks
from xaicli.explain.registry import resolve

quantus = pytest.importorskip("quantus")
pytestmark = pytest.mark.filterwarnings("ignore")
SEED = 42  # Quantus's; ours is SEED + 1
SALIENCY = resolve("saliency")


@pytest.fixture(scope="module")
def case():
    model, x = tiny_cnn(), tiny_inputs(8)
    with torch.no_grad():
        y = model(x).argmax(1)
    maps = torch.rand(8, 1, 12, 12, generator=torch.Generator().manual_seed(3))  # no ties: one order for both
    return model, x, y, maps


def explain_func(model, inputs, targets, **_):
    return SALIENCY(model, torch.as_tensor(inputs), torch.as_tensor(targets)).detach().numpy()


def _run(metric, model, x, y, a, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return metric(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=None if a is None else a.numpy(),
                      device="cpu", **kwargs)


def test_pixel_flipping_and_deletion_curves_equal_quantus_pixel_flipping(case):
    model, x, y, maps = case
    q = quantus.PixelFlipping(features_in_step=9, perturb_baseline=-1.0, normalise=False, disable_warnings=True)
    ref = np.array(_run(q, model, x, y, maps))  # 16 steps of 9 pixels, without the unperturbed start
    ours = flipping.flipping_curve(model, x, maps, y, -1.0, patch=1, steps=16, seed=None)
    np.testing.assert_allclose(ours[:, 1:].numpy(), ref, rtol=0, atol=1e-6)
    deletion, _ = curves(model, x, pixel_ranks(maps), y, -1.0, steps=16)
    np.testing.assert_allclose(deletion[:, 1:].numpy(), ref, rtol=0, atol=1e-6)


def test_pixel_flipping_by_patches_equals_quantus_region_perturbation(case):
    model, x, y, maps = case
    q = quantus.RegionPerturbation(patch_size=4, regions_evaluation=9, perturb_baseline=-1.0, normalise=False,
                                   disable_warnings=True)
    ref = np.array(_run(q, model, x, y, maps))  # the fall from the unperturbed probability, one patch per step
    ours = flipping.flipping_curve(model, x, maps, y, -1.0, patch=4, steps=9, seed=None)
    np.testing.assert_allclose((ours[:, :1] - ours[:, 1:]).numpy(), ref, rtol=0, atol=1e-6)


def test_road_imputation_equals_quantus_noisy_linear_imputation_without_noise():
    from quantus.functions.perturb_func import noisy_linear_imputation

    x = torch.randn(1, 2, 14, 14, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    order = torch.rand(196, generator=torch.Generator().manual_seed(1)).argsort()
    for count in (3, 60, 150, 194):
        removed = torch.zeros(196, dtype=torch.bool)
        removed[order[:count]] = True
        ref = noisy_linear_imputation(x[0].numpy(), order[:count].numpy(), noise=0.0)
        ours = road.linear_imputation(x, removed.view(1, 1, 14, 14))[0]
        np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-5)


def test_road_accuracy_curves_equal_quantus_for_morf_and_lerf(case):
    model, x, y, maps = case
    pct = [10, 30, 50, 70, 90]
    _, kept = road.road_curves(model, x, maps, y, [p / 100 for p in pct], noise=0.0, seed=None)
    for order, a in ((0, maps), (1, 1.5 - maps)):  # LeRF in Quantus: the order reversed (it refuses all-negative maps)
        q = quantus.ROAD(percentages=pct, noise=0.0, normalise=False, disable_warnings=True)
        ref = _run(q, model, x, y, a)
        np.testing.assert_allclose(kept[:, order].mean(0).numpy(), [ref[p] for p in pct], rtol=0, atol=1e-12)


def test_quantus_road_only_reads_the_first_batch(case):
    """Quantus is wrong here: ROAD.custom_postprocess averages `evaluation_scores[0]`, the first
    batch's results, so with more images than `batch_size` every later image is silently dropped."""
    model, x, y, maps = case
    pct = [50, 90]
    _, kept = road.road_curves(model, x, maps, y, [0.5, 0.9], noise=0.0, seed=None)
    q = quantus.ROAD(percentages=pct, noise=0.0, normalise=False, disable_warnings=True)
    ref = _run(q, model, x, y, maps, batch_size=4)
    first_half, all_images = kept[:4, 0].mean(0).tolist(), kept[:, 0].mean(0).tolist()
    assert [ref[p] for p in pct] == first_half != all_images


def test_quantus_road_fails_on_colour_images():
    """Quantus is wrong here: noisy_linear_imputation indexes an H*W mask with feature indices of the
    flattened C*H*W map, so any 3-channel image raises IndexError; ours imputes every channel."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 10 * 10, 5)).eval()
    x = torch.randn(4, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    y = torch.zeros(4, dtype=torch.long)
    q = quantus.ROAD(percentages=[10, 50], noise=0.0, disable_warnings=True)
    with pytest.raises(IndexError):
        _run(q, model, x, y, torch.rand(4, 1, 12, 12))
    probs, _ = road.road_curves(model, x, torch.rand(4, 1, 12, 12), y, (0.1, 0.5), noise=0.0)
    assert torch.isfinite(probs).all()


def test_sparseness_and_complexity_equal_quantus(case):
    model, x, y, maps = case
    signed = maps - 0.5
    for metric, ours in ((quantus.Sparseness, complexity.gini), (quantus.Complexity, complexity.entropy)):
        ref = np.array(_run(metric(disable_warnings=True), model, x, y, signed))
        np.testing.assert_allclose(ours(signed).numpy(), ref, rtol=0, atol=1e-6)


def test_cascading_randomization_equals_quantus_mprt_layer_by_layer(case):
    model, x, y, _ = case
    maps = SALIENCY(model, x, y)
    q = quantus.MPRT(layer_order="top_down", similarity_func=quantus.similarity_func.correlation_spearman, abs=True,
                     seed=SEED, disable_warnings=True)
    ref = _run(q, model, x, y, maps, explain_func=explain_func)
    ours = sanity.randomization_test(SALIENCY, model, x, y, seed=SEED + 1, original=maps)
    assert [c["layer"] for c in ours["cascade"]] == ["fc", "conv2", "conv1"] == list(ref)[1:]
    for layer in ours["cascade"]:
        assert layer["spearman"] == pytest.approx(float(np.mean(ref[layer["layer"]])), abs=1e-9)
    np.testing.assert_allclose(ours["per_image"].numpy(), ref["conv1"], rtol=0, atol=1e-9)


def test_efficient_mprt_equals_quantus(case):
    model, x, y, _ = case
    maps = SALIENCY(model, x, y)
    ref = np.array(_run(quantus.EfficientMPRT(seed=SEED, disable_warnings=True), model, x, y, maps,
                        explain_func=explain_func))
    after = SALIENCY(sanity.fully_randomized(model, x, SEED + 1), x, y)
    np.testing.assert_allclose(mprt.entropy_rise(maps, after).numpy(), ref, rtol=0, atol=1e-9)


def test_smooth_mprt_equals_quantus_without_noise(case):
    model, x, y, _ = case
    q = quantus.SmoothMPRT(seed=SEED, nr_samples=3, noise_magnitude=0.0, return_last_correlation=True,
                           disable_warnings=True)
    ref = np.array(_run(q, model, x, y, None, explain_func=quantus.explain, explain_func_kwargs={"method": "Saliency"}))
    randomized = sanity.fully_randomized(model, x, SEED + 1)
    before = mprt.smoothed_maps(SALIENCY, model, x, y, {}, samples=3, noise=0.0)
    after = mprt.smoothed_maps(SALIENCY, randomized, x, y, {}, samples=3, noise=0.0)
    np.testing.assert_allclose(ranks.magnitude_correlation(before, after).numpy(), ref, rtol=0, atol=1e-9)


def test_quantus_smooth_mprt_ignores_the_explain_func(case):
    """Quantus is wrong here: SmoothMPRT.explain_smooth_batch_numpy calls `quantus.explain`, not the
    explain_func it was given, so a custom method (ours, or a broken one) is never what it tests."""
    model, x, y, _ = case

    def broken(*_, **__):
        raise AssertionError("never called")

    q = quantus.SmoothMPRT(seed=SEED, nr_samples=2, noise_magnitude=0.0, return_last_correlation=True,
                           disable_warnings=True)
    scores = _run(q, model, x, y, None, explain_func=broken, explain_func_kwargs={"method": "Saliency"})
    assert len(scores) == len(x)  # ran to the end with Quantus's own Saliency


def test_random_logit_equals_quantus_with_spearman_of_magnitudes(case):
    model, x, y, _ = case
    maps = SALIENCY(model, x, y)
    n, k = len(x), 5
    np.random.seed(SEED)  # Quantus's draw of the other class, reproduced to hand the same classes to ours
    classes = np.stack([np.arange(k)] * n)
    keep = np.ones_like(classes)
    keep[np.arange(n)[None, :], y.numpy()] = 0
    pick = np.random.randint(0, k - 1, n)
    other = classes[keep.astype(bool)].reshape(n, -1)[np.arange(n)[None, :], pick].flatten()
    q = quantus.RandomLogit(num_classes=k, seed=SEED, similarity_func=quantus.similarity_func.correlation_spearman,
                            abs=True, disable_warnings=True)
    ref = np.array(_run(q, model, x, y, maps, explain_func=explain_func))
    ours = mprt.random_logit_scores(SALIENCY, model, x, y, maps, {}, torch.as_tensor(other))
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-9)
