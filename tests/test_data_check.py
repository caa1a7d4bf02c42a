"""`xai data check`: classes and counts per split, and every kind of defect, each found."""

import json
from pathlib import Path

from conftest import cli
from image_folders import write_broken_folder, write_colour_folder, write_csv

from xaicli.data.check import check_dataset
from xaicli.data.folder import list_folder


def test_a_clean_folder_passes_with_its_counts(tmp_path):
    root = write_colour_folder(tmp_path / "d", per_class=4, classes=("cat", "dog"), splits=("train", "valid"))
    result = cli("data", "check", root)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == "16 images in 2 classes (train, test): no defects"
    assert any(line.split() == ["cat", "4", "4"] for line in lines)
    assert "the only held-out folder: the test split" in result.output


def test_each_kind_of_defect_is_found_in_a_folder_with_one_of_each(tmp_path):
    made = write_broken_folder(tmp_path / "broken")
    report = check_dataset(tmp_path / "broken")
    found = {(d.kind, d.path) for d in report.defects}
    assert ("corrupt", str(made["truncated"])) in found
    assert ("corrupt", str(made["corrupt"])) in found
    assert ("wrong_extension", str(made["wrong_extension"])) in found
    assert ("duplicate", str(made["duplicate"])) in found
    assert ("empty_class", str(made["empty_class"])) in found
    assert {k for k, _ in found} == {"corrupt", "wrong_extension", "duplicate", "empty_class"}
    result = cli("data", "check", tmp_path / "broken")
    assert result.exit_code == 1
    summary = result.output.strip().splitlines()[-1]
    assert summary.startswith("20 images in 3 classes (train, test): 6 defects (")
    for words in ("2 corrupt or truncated files", "1 wrong extension", "1 image in two splits", "2 empty classes"):
        assert words in summary, summary
    assert "notes.txt" in result.output  # listed as ignored: not an image


def test_training_on_the_broken_folder_names_the_problem(tmp_path):
    write_broken_folder(tmp_path / "broken")
    result = cli("train", "configs/smoke_cnn.yaml", "data.name=folder", f"data.root={tmp_path / 'broken'}",
                 f"data.cache_dir={tmp_path / 'cache'}", "--run-dir", tmp_path / "run")
    assert result.exit_code == 1
    assert "empty_class" in result.output and "xai data check" in result.output
    assert not (tmp_path / "run").exists()


def test_csv_check_reports_missing_files_bad_rows_and_json(tmp_path):
    write_colour_folder(tmp_path / "imgs", per_class=2, classes=("a", "b"), splits=("train", "test"))
    listed = list_folder(tmp_path / "imgs")
    rows = [(Path(p).relative_to(tmp_path), "ab"[label], split) for split in ("train", "test")
            for p, label in listed.splits[split]]
    rows += [("imgs/train/a/gone.png", "a", "train"), (rows[0][0], "a", "somewhere")]
    csv = write_csv(tmp_path / "list.csv", rows)
    result = cli("data", "check", csv, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    kinds = sorted(d["kind"] for d in report["defects"])
    assert kinds == ["bad_row", "unreadable"] and not report["ok"]
    assert report["counts"] == {"train": [3, 2], "test": [2, 2]}


def test_a_path_that_is_no_dataset_is_a_one_line_error(tmp_path):
    result = cli("data", "check", tmp_path / "nothing")
    assert result.exit_code == 1 and "not a folder" in result.output
