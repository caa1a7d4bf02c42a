"""`xai runs` and `xai runs compare` on fake run folders: status, filters, order, the JSON, the comparison,
and runs/latest."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from conftest import cli
from fake_runs import make_many, make_run

from xaicli.runs.compare import compare_runs, differing_keys
from xaicli.runs.latest import point_latest
from xaicli.runs.listing import find_runs, list_runs, summarize
from xaicli.runs.status import ACTIVE_WINDOW_S, run_status


@pytest.mark.parametrize("status, expected", [("finished", "finished"), ("interrupted", "interrupted"),
                                              ("failed", "failed"), ("running", "running"),
                                              ("killed", "interrupted")])
def test_status_from_exit_code_and_holder(tmp_path, status, expected):
    run = make_run(tmp_path / "r", status=status)
    assert summarize(run, tmp_path)["status"] == expected


def test_a_dead_holder_is_not_running(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    run = make_run(tmp_path / "r", status="running", pid=proc.pid)
    status = run_status(run, json.loads((run / "meta.json").read_text()))
    assert status.status == "interrupted" and str(proc.pid) in status.detail


def test_a_live_process_that_is_not_xai_does_not_hold_a_run(tmp_path):
    """A recycled pid: the process exists but is something else."""
    proc = subprocess.Popen(["sleep", "30"])
    try:
        run = make_run(tmp_path / "r", status="running", pid=proc.pid)
        assert summarize(run, tmp_path)["status"] == "interrupted"
    finally:
        proc.kill()
        proc.wait()


def test_another_hosts_run_is_running_while_its_files_change(tmp_path):
    run = make_run(tmp_path / "r", status="running", pid=12345, host="elsewhere-" + socket.gethostname())
    meta = json.loads((run / "meta.json").read_text())
    assert run_status(run, meta).status == "running"
    later = time.time() + ACTIVE_WINDOW_S + 60
    assert run_status(run, meta, now=later).status == "interrupted"


def test_a_folder_without_meta_is_starting_then_failed(tmp_path):
    run = make_run(tmp_path / "r")
    (run / "meta.json").unlink()
    assert run_status(run, None).status == "running"
    assert run_status(run, None, now=time.time() + 600).status == "failed"


def test_find_runs_skips_latest_hidden_and_artifact_copies(tmp_path):
    a = make_run(tmp_path / "a")
    nested = make_run(tmp_path / "sweep" / "000-lr_1")
    make_run(tmp_path / "sweep" / ".attempts" / "000-lr_1-1")
    (tmp_path / "mlartifacts" / "x").mkdir(parents=True)
    (tmp_path / "mlartifacts" / "x" / "config.yaml").write_text("name: copy\n")
    os.symlink("a", tmp_path / "latest")
    assert sorted(find_runs(tmp_path)) == sorted([a, nested])
    assert find_runs(a) == [a]


def test_list_newest_first_with_filters(tmp_path):
    make_many(tmp_path, 15)
    rows = list_runs(tmp_path)
    assert len(rows) == 15
    assert [r["name"] for r in rows] == [f"{'gan' if i % 3 == 2 else 'cnn'}-{i:03d}" for i in reversed(range(15))]
    assert {r["kind"] for r in list_runs(tmp_path, kind="gan")} == {"gan"}
    assert len(list_runs(tmp_path, kind="gan")) == 5
    assert [r["name"] for r in list_runs(tmp_path, name="cnn-00*")] == ["cnn-009", "cnn-007", "cnn-006", "cnn-004",
                                                                      "cnn-003", "cnn-001", "cnn-000"]
    assert {r["status"] for r in list_runs(tmp_path, status="failed")} == {"failed"}
    assert len(list_runs(tmp_path, status="interrupted")) == 6  # interrupted and killed


def test_summary_fields(tmp_path):
    run = make_run(tmp_path / "r", epochs=2, planned=5, status="interrupted", seconds=90, val=[0.6, 0.8],
                   evaluation={"accuracy": 0.75, "loss": 0.5})
    row = summarize(run, tmp_path)
    assert (row["epochs"], row["planned_epochs"], row["best"], row["best_epoch"]) == (2, 5, 0.8, 2)
    assert row["eval"]["metric"] == "accuracy" and row["eval"]["value"] == 0.75
    assert row["seconds"] == pytest.approx(90, abs=1)
    assert (row["kind"], row["model"], row["dataset"]) == ("classifier", "fast_cnn", "synthetic")


def test_bad_filters_and_folders_are_usage_errors(tmp_path):
    from xaicli.errors import ConfigError

    with pytest.raises(ConfigError, match="--kind gann: expected one of classifier, gan .*did you mean 'gan'"):
        list_runs(tmp_path, kind="gann")
    with pytest.raises(ConfigError, match="no such folder of runs"):
        list_runs(tmp_path / "missing")
    assert cli("runs", tmp_path / "missing").exit_code == 2


def test_cli_table_json_and_last(tmp_path):
    make_many(tmp_path, 6)
    result = cli("runs", tmp_path)
    assert result.exit_code == 0, result.output
    assert "6 runs in" in result.output and "cnn-000" in result.output and "fid 25" in result.output
    result = cli("runs", tmp_path, "--json", "--last", "2", "--status", "finished")
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == ["gan-005", "cnn-003"]  # the two newest of 000, 003, 005
    assert all(r["status"] == "finished" for r in rows)
    assert "no runs in" in cli("runs", tmp_path, "--name", "nothing*").output


def test_compare_differing_keys_metrics_and_plot(tmp_path):
    a = make_run(tmp_path / "a", overrides=("optim.lr=0.01",), val=[0.5, 0.7, 0.9])
    b = make_run(tmp_path / "b", overrides=("optim.lr=0.001", "model.args={width: 8}"), val=[0.4, 0.6, 0.65],
                 evaluation={"accuracy": 0.6})
    result = compare_runs([a, b])
    assert result["config"] == {"optim.lr": [0.01, 0.001], "model.args.width": [None, 8]}
    assert result["metrics"]["best val_acc"] == [0.9, 0.65]
    assert result["metrics"]["last val_acc"] == [0.9, 0.65]
    assert result["metrics"]["eval accuracy"] == [None, 0.6]
    assert result["plot"] == str((tmp_path / "compare-001.png").resolve())
    assert (tmp_path / "compare-001.png").read_bytes()[:4] == b"\x89PNG"
    assert compare_runs([a, b])["plot"].endswith("compare-002.png")  # never overwrites
    out = cli("runs", "compare", a, b, "--no-plot")
    assert out.exit_code == 0 and "optim.lr" in out.output and "best val_acc" in out.output
    assert cli("runs", "compare", a).exit_code == 2


def test_differing_keys_ignores_equal_values():
    assert differing_keys([{"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}}]) == {"b.c": [2, 3]}


def test_latest_points_at_the_newest_run_inside_the_runs_folder(tmp_path):
    one, two = make_run(tmp_path / "runs" / "x-001"), make_run(tmp_path / "runs" / "sweep" / "000")
    assert point_latest(tmp_path / "runs", one) == tmp_path / "runs" / "latest"
    assert (tmp_path / "runs" / "latest").resolve() == one.resolve()
    point_latest(tmp_path / "runs", two)
    assert os.readlink(tmp_path / "runs" / "latest") == "sweep/000"
    assert point_latest(tmp_path / "runs", make_run(tmp_path / "elsewhere")) is None
    assert (tmp_path / "runs" / "latest").resolve() == two.resolve()


def test_runs_from_before_meta_said_it_all_are_read_from_config(tmp_path):
    run = make_run(tmp_path / "old", planned=7, epochs=2)
    meta = json.loads((run / "meta.json").read_text())
    for key in ("kind", "model", "epochs"):
        del meta[key]
    (run / "meta.json").write_text(json.dumps(meta))
    row = summarize(run, tmp_path)
    assert (row["kind"], row["model"], row["planned_epochs"], row["epochs"]) == ("classifier", "fast_cnn", 7, 2)
