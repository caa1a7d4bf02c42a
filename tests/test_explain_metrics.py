"""Faithfulness (deletion / insertion) and sanity (parameter randomization, degenerate maps)."""

from __future__ import annotations

import math

import pytest
import torch
from explain_helpers import tiny_cnn, tiny_inputs, trained_digits
from torch import nn

from xaicli.explain.measures.faithfulness import area, curves, faithfulness, pixel_ranks
from xaicli.explain.measures.sanity import degenerate_maps, randomization_test, spearman
from xaicli.explain.registry import resolve

BLACK = -0.4242  # the MNIST pixel 0 after normalisation by mean 0.1307, std 0.3081


@pytest.fixture(scope="module")
def trained():
    return trained_digits()


def test_deletion_of_saliency_beats_random_order_on_a_trained_model(trained):
    model, x = trained
    with torch.no_grad():
        pred = model(x).argmax(1)
    maps = resolve("saliency")(model, x, pred)
    m = faithfulness(model, x, maps, pred, fill=BLACK, steps=16)
    assert m["deletion_auc"] < m["deletion_auc_random"] - 0.05, m
    assert len(m["deletion_curve"]) == 17 and m["deletion_curve"][0] > m["deletion_curve"][-1]


def test_insertion_of_integrated_gradients_beats_random_order(trained):
    model, x = trained
    with torch.no_grad():
        pred = model(x).argmax(1)
    maps = resolve("integrated_gradients")(model, x, pred, n_steps=16, baseline="black", input_range=(BLACK, 2.82))
    m = faithfulness(model, x, maps, pred, fill=BLACK, steps=16)
    assert m["insertion_auc"] > m["insertion_auc_random"] + 0.05, m


def test_curves_start_and_end_at_the_full_and_the_fill_image():
    model, x = tiny_cnn(), tiny_inputs()
    maps = torch.randn_like(x)
    dele, ins = curves(model, x, pixel_ranks(maps), torch.tensor([0, 1, 2]), fill=0.0, steps=4)
    with torch.no_grad():
        full = model(x).softmax(1)[torch.arange(3), [0, 1, 2]]
        empty = model(torch.zeros_like(x)).softmax(1)[torch.arange(3), [0, 1, 2]]
    torch.testing.assert_close(dele[:, 0], full)
    torch.testing.assert_close(dele[:, -1], empty)
    torch.testing.assert_close(ins[:, 0], empty)
    torch.testing.assert_close(ins[:, -1], full)
    assert math.isclose(float(area(torch.ones(1, 5))), 1.0)


def test_chunked_curves_equal_unchunked():
    model, x = tiny_cnn(), tiny_inputs()
    ranks = pixel_ranks(torch.randn_like(x))
    a = curves(model, x, ranks, 0, fill=0.0, steps=5, chunk=1000)
    b = curves(model, x, ranks, 0, fill=0.0, steps=5, chunk=2)
    torch.testing.assert_close(a, b)


def test_curves_score_each_end_once_and_every_inner_point_as_its_perturbed_image():
    """The two ends of both curves (the image, the fill image) are scored once, not once per curve:
    2 x (steps - 1) perturbed images per image, the images themselves and one fill image."""
    model, x = tiny_cnn(), tiny_inputs()
    target = torch.tensor([0, 1, 2])
    ranks = pixel_ranks(torch.randn_like(x))
    seen = []
    handle = model.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    dele, ins = curves(model, x, ranks, target, fill=0.0, steps=4, chunk=1000)
    handle.remove()
    assert sum(seen) == 2 * 3 * 3 + 3 + 1
    pixels = x.shape[2] * x.shape[3]
    with torch.no_grad():
        for k in range(1, 4):
            removed = (ranks < round(pixels * k / 4)).view(3, 1, *x.shape[2:])
            deleted = model(x.masked_fill(removed, 0.0)).softmax(1)[torch.arange(3), target]
            inserted = model(torch.where(removed, x, torch.zeros_like(x))).softmax(1)[torch.arange(3), target]
            torch.testing.assert_close(dele[:, k], deleted)
            torch.testing.assert_close(ins[:, k], inserted)


def _edge_detector(model, inputs, target=None, **_):
    """A 'method' that never looks at the model: the Sobel gradient magnitude of the input."""
    kx = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]).view(1, 1, 3, 3)
    gx = nn.functional.conv2d(inputs, kx, padding=1)
    gy = nn.functional.conv2d(inputs, kx.transpose(2, 3), padding=1)
    return (gx ** 2 + gy ** 2).sqrt()


def test_randomization_fails_an_edge_detector(trained):
    model, x = trained
    result = randomization_test(_edge_detector, model, x[:6], 0)
    assert result["verdict"] == "fail" and result["final_spearman"] > 0.99
    assert [c["layer"] for c in result["cascade"]] == ["7", "3", "0"]  # top layer first


def test_randomization_passes_saliency_on_a_trained_model(trained):
    model, x = trained
    with torch.no_grad():
        pred = model(x[:6]).argmax(1)
    before = [p.clone() for p in model.parameters()]
    result = randomization_test(resolve("saliency"), model, x[:6], pred)
    assert result["verdict"] == "pass", result
    assert result["final_spearman"] < result["threshold"] == 0.5
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))  # the original is untouched


def test_spearman_handles_ties_and_constants():
    a = torch.tensor([1.0, 2, 2, 3])
    assert math.isclose(spearman(a, a), 1.0)
    assert math.isclose(spearman(a, -a), -1.0)
    assert math.isnan(spearman(a, torch.ones(4)))


def test_degenerate_maps_are_found_with_their_cause():
    maps = torch.randn(4, 1, 5, 5)
    maps[0, 0, 1, 1] = float("nan")
    maps[1] = 0
    maps[2] = 0.3
    found = degenerate_maps(maps)
    assert found["nan"]["images"] == [0] and found["zero"]["images"] == [1] and found["constant"]["images"] == [2]
    assert "gradient" in found["zero"]["cause"]
    assert degenerate_maps(torch.randn(2, 1, 5, 5)) == {}


def test_a_cam_that_vanishes_under_random_weights_counts_as_changed():
    from xaicli.explain.measures.sanity import map_correlation

    original = torch.rand(1, 6, 6)
    assert map_correlation(original, torch.zeros(1, 6, 6)) == 0.0
    assert math.isnan(map_correlation(torch.ones(1, 6, 6), torch.rand(1, 6, 6)))


def test_pick_images_takes_the_classes_in_turn():
    from xaicli.explain.selection import pick_images

    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    assert pick_images(labels, 4).tolist() == [0, 3, 5, 1]
    assert pick_images(labels, 10).tolist() == [0, 3, 5, 1, 4, 2]


def test_measures_declare_the_csv_header_in_order():
    from xaicli.explain.measures import columns

    assert [c.name for c in columns()] == [
        "deletion_auc", "insertion_auc", "road_morf", "road_lerf", "srg", "pixel_flipping", "randomization_verdict",
        "randomization_spearman", "smooth_mprt", "efficient_mprt", "random_logit", "sparseness", "complexity",
        "seconds", "images_per_s", "degenerate"]


def test_a_measure_added_to_the_list_reaches_metrics_csv_and_the_report(tmp_path, monkeypatch):
    import csv
    import json

    from xaicli.explain import measures
    from xaicli.explain.measures.base import Column, Settings, measure
    from xaicli.explain.pipeline import Batch, explain_section
    from xaicli.explain.report import metric_table
    from xaicli.explain.scorecard.html import scorecard_html

    @measure("peak", Column("peak", "peak |map|", "higher"))
    def peak(ctx):
        return {"peak": float(ctx.maps.abs().max())}

    monkeypatch.setattr(measures, "MEASURES", [*measures.MEASURES, peak])
    model, x = tiny_cnn(), tiny_inputs()
    target = torch.tensor([0, 3, 1])
    batch = Batch(model, x, torch.sigmoid(x).numpy(), target, [0, 1, 2], ["a", "b", "c"], fill=0.0)
    settings = Settings(sanity=False, curve_steps=4, measures=("deletion_insertion", "peak"))  # chosen by name
    result = explain_section(batch, [resolve("saliency")], tmp_path, settings)
    expected = float(resolve("saliency")(model, x, target).abs().max())
    assert result["methods"]["saliency"]["peak"] == pytest.approx(expected)
    assert json.loads((tmp_path / "metrics.json").read_text())["methods"]["saliency"]["peak"] == pytest.approx(expected)
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    header = list(rows[0])
    assert header.index("peak") == header.index("mean_rank") - 1 and float(rows[0]["peak"]) == pytest.approx(expected)
    assert "randomization_verdict" not in header and "road_morf" not in header  # not chosen, or sanity off
    table = metric_table(result["methods"])
    assert "peak |map| &uarr;" in table and "<td class='not run'>" in table
    assert "deletion AUC &darr;" in scorecard_html(result["scorecard"])


def test_the_report_names_each_image_once(tmp_path):
    from xaicli.explain import render, report

    labels = {"7": "#7 pred 1 (0.98), label 1, target 1"}
    image, attr = torch.rand(1, 12, 12).numpy(), torch.rand(1, 12, 12).numpy()
    render.save_overlay(tmp_path / "saliency" / "7.png", image, attr, False)
    (tmp_path / "grid.png").write_bytes((tmp_path / "saliency" / "7.png").read_bytes())
    page = report.section_html(tmp_path, "classifier", {"methods": {"saliency": {}}, "labels": labels})
    assert page.count("#7") == 2 and "#7: #7" not in page  # the list under the grid and the overlay's title
    assert "title='saliency: #7 pred 1 (0.98), label 1, target 1'" in page
