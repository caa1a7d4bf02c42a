"""The scorecard through the real CLI: `xai explain` writes it to metrics.json, metrics.csv,
report.html and the console (standard error, stdout's last line staying the folder), and
`xai explain --compare RUN_A RUN_B` puts two of them side by side."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import xai

pytestmark = pytest.mark.e2e  # drives `xai explain` on a trained run

METHODS = ("--method", "saliency", "--method", "gradcam", "--method", "input_x_gradient")


@pytest.fixture(scope="module")
def explained(smoke_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("explain") / "a"
    proc = xai("explain", smoke_run, *METHODS, "-n", "6", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(out)
    (out / "stderr.txt").write_text(proc.stderr)
    return out


def test_explain_writes_the_scorecard_everywhere(explained):
    metrics = json.loads((explained / "metrics.json").read_text())
    card = metrics["scorecard"]
    assert card["rows"] == ["saliency", "gradcam", "input_x_gradient", "random"] and card["images"] == 6
    names = [m["name"] for m in card["measures"]]
    assert names == ["deletion_auc", "insertion_auc", "road_morf", "road_lerf", "srg", "pixel_flipping",
                     "randomization_spearman", "efficient_mprt", "random_logit", "sparseness", "complexity"]
    for row in card["rows"]:
        for name, cell in card["table"][row].items():
            assert cell["lo"] - 1e-12 <= cell["mean"] <= cell["hi"] + 1e-12, (row, name, cell)
    assert {e["method"] for e in card["ranking"]} == set(card["rows"])
    assert len(card["agreement"]["spearman"]) == len(names)
    assert len(metrics["random"]["per_image"]["road_morf"]) == 6 and metrics["indices"]
    rows = list(csv.DictReader((explained / "metrics.csv").open()))
    assert [r["method"] for r in rows] == card["rows"]
    assert float(rows[0]["road_morf_lo"]) <= float(rows[0]["road_morf"]) <= float(rows[0]["road_morf_hi"])
    assert all(r["mean_rank"] for r in rows)
    agreement = list(csv.reader((explained / "agreement.csv").open()))
    assert agreement[0] == ["measure", *names] and [r[0] for r in agreement[1:]] == names
    assert all(float(agreement[i][i]) == pytest.approx(1.0) for i in range(1, len(agreement)))
    page = (explained / "report.html").read_text()
    for text in ("<h3>Scorecard</h3>", "<h3>Ranking</h3>", "Do the measures agree?", "ROAD MoRF", "random logit"):
        assert text in page, text
    err = (explained / "stderr.txt").read_text()
    assert "scorecard: 6 images" in err and "ranking:" in err and "ROAD LeRF" in err
    assert "agreement between measures" in err


def test_compare_puts_two_scorecards_side_by_side(smoke_run, explained, tmp_path):
    again = tmp_path / "b"
    assert xai("explain", smoke_run, *METHODS, "-n", "6", "--out", again).returncode == 0
    out = tmp_path / "cmp"
    proc = xai("explain", "--compare", explained, again, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(out)
    result = json.loads((out / "compare.json").read_text())
    assert result["a"] == str(explained) and result["b"] == str(again)
    section = result["sections"]["classifier"]
    assert section["paired"] and section["rows"] == ["saliency", "gradcam", "input_x_gradient", "random"]
    cells = [c for row in section["table"].values() for c in row.values()]
    assert cells and all(c["change"]["mean"] == pytest.approx(0.0, abs=1e-12) for c in cells)  # the same run twice
    assert {c["change"]["verdict"] for c in cells} == {"no clear change"}
    assert "A &rarr; B" in (out / "compare.html").read_text() and "compare: A = " in proc.stderr
    swapped = xai("explain", again, "--compare", explained, "--out", tmp_path / "swapped")
    assert json.loads((tmp_path / "swapped" / "compare.json").read_text())["a"] == str(explained), swapped.stderr


def test_compare_refuses_a_folder_without_a_scorecard(explained, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = xai("explain", "--compare", tmp_path / "empty", explained, "--out", tmp_path / "never")
    assert proc.returncode == 2 and "neither an explain folder nor a run with one" in proc.stderr
    assert not (tmp_path / "never").exists()
