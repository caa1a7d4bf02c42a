"""The scorecard's known answers (a random map scores like the random reference, the exact map of a
linear model wins every faithfulness measure, a weight-independent map fails every randomisation
test, a one-pixel map is sparse) and the pieces behind it: batched ranks, ROAD's imputation and
noise, the bootstrap, the ranking, the settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from explain_helpers import tiny_cnn, tiny_inputs, trained_digits
from torch import nn

from xaicli.errors import ConfigError
from xaicli.explain.measures import complexity, mprt, ranks, road
from xaicli.explain.measures.base import Settings
from xaicli.explain.measures.reference import random_maps
from xaicli.explain.pipeline import Batch, explain_section
from xaicli.explain.registry import Method, resolve

ALL = ("deletion_insertion", "road", "pixel_flipping", "mprt", "smooth_mprt", "efficient_mprt", "random_logit",
       "sparseness", "complexity")
FAITHFULNESS = ("deletion_auc", "insertion_auc", "road_morf", "road_lerf", "srg", "pixel_flipping")
RANDOMISATION = ("randomization_spearman", "smooth_mprt", "efficient_mprt", "random_logit")


def _section(tmp_path, model, x, target, methods, fill=0.0, **settings):
    batch = Batch(model, x, torch.sigmoid(x[:, :1]).numpy(), target, list(range(len(x))),
                  [str(i) for i in range(len(x))], fill=fill)
    options = {"measures": ALL, "curve_steps": 8, "smooth_samples": 3, "bootstrap": 400, **settings}
    return explain_section(batch, methods, tmp_path, Settings(**options))


def test_a_random_map_scores_like_the_random_reference_within_its_interval(tmp_path):
    model, x = tiny_cnn(), tiny_inputs(24)
    target = torch.arange(24) % 5
    other = Method("other_random", lambda model, inputs, target=None: random_maps(inputs, seed=7), signed=False)
    result = _section(tmp_path, model, x, target, [other])
    mine, ref = result["methods"]["other_random"], result["random"]
    for name in FAITHFULNESS + ("sparseness", "complexity"):
        lo, hi = ref["intervals"][name]
        assert lo <= mine[name] <= hi, (name, mine[name], lo, hi)
        assert mine["vs_random"][name] == "indistinguishable", name
    for name in RANDOMISATION:  # both maps ignore the weights and the class: they never change
        assert mine[name] == pytest.approx(ref[name]) == pytest.approx(0.0 if name == "efficient_mprt" else 1.0)
    assert {e["method"]: e["vs_random"] for e in result["scorecard"]["ranking"]}["other_random"] == "indistinguishable"


def test_the_exact_map_of_a_linear_model_wins_every_faithfulness_measure(tmp_path):
    """A linear model whose second logit is 0: the target's probability is the sigmoid of w.x + b,
    so each pixel adds exactly w_i (x_i - fill) and removing the largest contributions first is the
    best order there is. Inputs are centred noise, so the imputed values are near the fill 0 too."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(144, 2)).eval()
    with torch.no_grad():
        model[1].weight[1] = 0
        model[1].bias.zero_()
    x = torch.randn(16, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    target = torch.zeros(16, dtype=torch.long)
    exact = resolve("input_x_gradient")  # w x (x - 0): the exact contribution with fill 0
    result = _section(tmp_path, model, x, target, [exact, resolve("saliency")],
                      measures=("deletion_insertion", "road", "pixel_flipping"), patch=2, road_noise=0.0)
    rows = {**result["methods"], "random": result["random"]}
    better = {c["name"]: c["better"] for c in result["scorecard"]["measures"]}
    for name in FAITHFULNESS:
        values = {row: m[name] for row, m in rows.items()}
        best = (min if better[name] == "lower" else max)(values, key=values.get)
        assert best == "input_x_gradient", (name, values)
        assert rows["input_x_gradient"]["vs_random"][name] == "better", name
    ranking = result["scorecard"]["ranking"]
    assert ranking[0]["method"] == "input_x_gradient" and ranking[0]["mean_rank"] == 1.0
    assert set(ranking[0]["ahead_of"]) == {"saliency", "random"}


def _edges(model, inputs, target=None):
    """A 'method' that never looks at the model: the Sobel gradient magnitude of the input."""
    kx = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]).view(1, 1, 3, 3)
    gx = nn.functional.conv2d(inputs, kx, padding=1)
    gy = nn.functional.conv2d(inputs, kx.transpose(2, 3), padding=1)
    return (gx ** 2 + gy ** 2).sqrt()


def test_a_map_independent_of_the_weights_fails_every_randomisation_test(tmp_path):
    model, x = trained_digits()
    with torch.no_grad():
        target = model(x).argmax(1)
    edges = Method("edges", _edges, signed=False)
    result = _section(tmp_path, model, x, target, [edges, resolve("saliency")], fill=-0.4242,
                      measures=("mprt", "smooth_mprt", "efficient_mprt", "random_logit"))
    m = result["methods"]["edges"]
    assert m["randomization"]["verdict"] == "fail"
    assert m["randomization_spearman"] == pytest.approx(1.0)  # unchanged after every layer is randomized
    assert m["smooth_mprt"] == pytest.approx(1.0)  # the same noisy copies on both models
    assert m["efficient_mprt"] == pytest.approx(0.0)  # no rise in entropy
    assert m["random_logit"] == pytest.approx(1.0)  # the same map for any class
    for name in RANDOMISATION:
        assert m["vs_random"][name] == "indistinguishable", name  # no better than a random map
        assert result["methods"]["saliency"]["vs_random"][name] == "better", name  # a gradient is


def test_a_one_pixel_map_is_as_sparse_as_can_be():
    maps = torch.zeros(2, 1, 28, 28)
    maps[0, 0, 5, 7] = 3.0
    maps[1, 0, 20, 2] = -0.01
    assert complexity.gini(maps).min() > 0.998  # (P - 1) / P = 0.9987 for 784 pixels
    assert complexity.entropy(maps).max() < 1e-6
    flat = torch.ones(1, 1, 28, 28)
    assert complexity.gini(flat)[0] == pytest.approx(0.0, abs=1e-9)
    assert complexity.entropy(flat)[0] == pytest.approx(math.log(784))


def test_batched_spearman_equals_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (6, 40), generator=g).double()  # many ties
    b = a + torch.randint(0, 3, (6, 40), generator=g)
    ours = ranks.spearman_rows(a, b)
    for i in range(6):
        assert float(ours[i]) == pytest.approx(stats.spearmanr(a[i], b[i])[0], abs=1e-12)
    assert ranks.spearman_rows(torch.ones(1, 5), torch.arange(5.0).view(1, 5)).isnan().all()


def test_discrete_entropy_bins_as_numpy_does():
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(5, 1, 9, 9, generator=g, dtype=torch.float64)
    maps[1] = maps[1].round()  # values exactly on bin edges
    maps[2] = 0.7  # constant
    for i in range(5):
        counts, _ = np.histogram(maps[i].numpy(), bins=37)
        p = counts[counts > 0] / counts.sum()
        assert float(mprt.discrete_entropy(maps, 37)[i]) == pytest.approx(float(-(p * np.log(p)).sum()), abs=1e-12)


def test_imputation_reproduces_a_linear_ramp_inside_the_image():
    """Each removed pixel is the weighted mean of its neighbours: a plane satisfies that exactly."""
    i, j = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    x = (0.3 * i - 0.2 * j + 1).view(1, 1, 16, 16).double()
    removed = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    removed[..., 3:12, 4:10] = True
    filled = road.linear_imputation(x.masked_fill(removed, 99.0), removed)
    torch.testing.assert_close(filled, x, rtol=0, atol=1e-6)


def test_road_does_not_depend_on_the_chunk_and_its_noise_is_standard_normal():
    model, x = tiny_cnn(), tiny_inputs(3)
    maps = torch.randn_like(x)
    a = road.road_curves(model, x, maps, 0, (0.2, 0.6), noise=0.05, seed=3, chunk=1)
    b = road.road_curves(model, x, maps, 0, (0.2, 0.6), noise=0.05, seed=3, chunk=100)
    torch.testing.assert_close(a, b)
    noise = road.hashed_normal(torch.arange(40), (50, 50), seed=1)
    assert abs(float(noise.mean())) < 0.01 and abs(float(noise.std()) - 1) < 0.01
    assert not torch.equal(noise, road.hashed_normal(torch.arange(40), (50, 50), seed=2))
    torch.testing.assert_close(noise[5:7], road.hashed_normal(torch.arange(5, 7), (50, 50), seed=1))


def test_road_works_on_colour_images():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 10 * 10, 5)).eval()
    x = torch.randn(4, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    probs, kept = road.road_curves(model, x, torch.rand(4, 1, 12, 12), 0, (0.1, 0.5, 0.9), noise=0.0)
    assert probs.shape == kept.shape == (4, 2, 3) and torch.isfinite(probs).all()


def test_ties_are_taken_in_a_random_order_given_a_seed():
    scores = torch.zeros(1, 100)
    scores[0, 7] = 1.0
    reading = ranks.descending_ranks(scores)
    shuffled = ranks.descending_ranks(scores, seed=0)
    assert reading[0, 7] == shuffled[0, 7] == 0
    assert reading[0, :7].tolist() == list(range(1, 8)) and shuffled[0, :7].tolist() != list(range(1, 8))
    assert sorted(shuffled[0].tolist()) == list(range(100))


def test_the_bootstrap_interval_and_the_ranking_follow_the_data():
    from xaicli.explain.scorecard import stats

    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, generator=g, dtype=torch.float64)
    idx = stats.resample_indices(200, 2000, seed=0)
    boot = stats.resampled_means(a.view(1, -1), idx)[0]
    lo, hi = stats.interval(boot)
    half = 1.96 * float(a.std()) / math.sqrt(200)
    assert float(lo) == pytest.approx(float(a.mean()) - half, abs=0.03)
    assert float(hi) == pytest.approx(float(a.mean()) + half, abs=0.03)
    assert stats.verdict(torch.stack([boot + 1 - boot.mean(), boot - boot.mean(), boot - 1 - boot.mean()])) == [
        "better", "indistinguishable", "worse"]
    r = stats.average_ranks_of_rows(torch.tensor([[3.0], [1.0], [3.0], [float("nan")]]))
    assert r[:3, 0].tolist() == [1.5, 3.0, 1.5] and r[3, 0].isnan()


def test_unknown_measures_and_bad_fractions_are_config_errors():
    from xaicli.config.schema import ExplainConfig
    from xaicli.explain.selection import settings_from

    with pytest.raises(ConfigError, match="explain.measures: unknown measure 'roadd' .did you mean 'road'"):
        settings_from(ExplainConfig(measures=["roadd"]))
    with pytest.raises(ConfigError, match="explain.road_fractions"):
        settings_from(ExplainConfig(road_fractions=[0.5, 1.0]))
    s = settings_from(ExplainConfig(measures=["road", "smooth_mprt"], road_fractions=[0.25]))
    assert s.measures == ("road", "smooth_mprt") and s.road_fractions == (0.25,)


def test_sanity_off_leaves_out_the_randomisation_measures():
    from xaicli.explain import measures

    on = [m.name for m in measures.active(Settings(measures=ALL))]
    off = [m.name for m in measures.active(Settings(measures=ALL, sanity=False))]
    assert set(on) - set(off) == {"mprt", "smooth_mprt", "efficient_mprt", "random_logit"}
    assert "timing" in off and "degenerate" in off  # always
    assert "smooth_mprt" not in [m.name for m in measures.active(Settings())]  # chosen by name only


def test_rounding_differences_are_ties_not_ranks():
    from xaicli.explain.scorecard import stats

    one = torch.tensor([[1.0000000000000002], [0.9999999999999998], [0.5]], dtype=torch.float64)
    assert stats.average_ranks_of_rows(one)[:, 0].tolist() == [1.5, 1.5, 3.0]
    assert stats.verdict(torch.full((1, 50), 4e-16, dtype=torch.float64)) == ["indistinguishable"]


def test_perturbation_measures_halve_the_chunk_on_out_of_memory_and_give_the_same_result(caplog):
    import logging

    from explain_helpers import OutOfMemoryAbove

    from xaicli.explain.measures.flipping import flipping_curve

    model, x = tiny_cnn(), tiny_inputs(3)
    maps = torch.randn_like(x)
    expected = road.road_curves(model, x, maps, 0, (0.3, 0.7), noise=0.02, chunk=64)
    flaky = OutOfMemoryAbove(model, limit=5)
    with caplog.at_level(logging.WARNING, logger="xaicli.explain"):
        got = road.road_curves(flaky, x, maps, 0, (0.3, 0.7), noise=0.02, chunk=64)
        flipped = flipping_curve(flaky, x, maps, 0, 0.0, patch=3, steps=4, chunk=64)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(flipped, flipping_curve(model, x, maps, 0, 0.0, patch=3, steps=4, chunk=64))
    assert "retrying with" in caplog.text and max(flaky.sizes) > 5 and flaky.sizes[-1] <= 5
