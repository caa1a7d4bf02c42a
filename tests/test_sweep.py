"""`xai sweep` without training: the grid, point states and what a rerun does with each, sweep.json, the
lock, the slots, the SLURM array and its submission, the summary over seeds."""

from __future__ import annotations

import json
import os
import stat

import pytest
from conftest import ROOT, SMOKE, cli
from fake_runs import make_run

from xaicli.errors import ConfigError, XaiError
from xaicli.sweeps import plan_point, run_sweep
from xaicli.sweeps.grid import parse_grid, split_values, sweep_id
from xaicli.sweeps.local import slots
from xaicli.sweeps.slurm import array_spec
from xaicli.sweeps.state import SweepLock, SweepRecord, point_state, set_aside
from xaicli.sweeps.summary import summarize_sweep


def test_axes_ranges_and_fixed_overrides():
    grid = parse_grid(["optim.lr=1e-3,1e-2", "seed=0:3", "train.epochs=2", "model.args={width: 8, hidden: 16}"])
    assert grid.axes == {"optim.lr": ["1e-3", "1e-2"], "seed": ["0", "1", "2"]}
    assert grid.fixed == ["train.epochs=2", "model.args={width: 8, hidden: 16}"]
    points = grid.points()
    assert len(points) == 6
    assert points[4].name == "004-lr_1e-2-seed_1"
    assert points[4].overrides == ("train.epochs=2", "model.args={width: 8, hidden: 16}", "optim.lr=1e-2", "seed=1")
    assert points[4].group() == (("optim.lr", "1e-2"),)


def test_value_lists_split_only_at_the_top_level():
    assert split_values("[0.5,0.999],[0.9,0.999]") == ["[0.5,0.999]", "[0.9,0.999]"]
    assert split_values("'a,b',c") == ["'a,b'", "c"]
    assert parse_grid(["seed=0:10:4"]).axes == {"seed": ["0", "4", "8"]}
    assert parse_grid(["train.device=cuda:1"]).fixed == ["train.device=cuda:1"]  # not a range


@pytest.mark.parametrize("args, message", [
    (["seed=3:3"], "an empty range"), (["seed=0:4:0"], "step cannot be 0"), (["optim.lr"], "expected KEY=VALUES"),
    (["seed=0,1", "seed=2"], "seed is given twice"), (["optim.lr=1e-3,,1e-2"], "an empty value between commas")])
def test_bad_grids(args, message):
    with pytest.raises(ConfigError, match=message):
        parse_grid(args)


def test_the_same_command_names_the_same_sweep():
    a, b = parse_grid(["optim.lr=1,2", "seed=0:2"]), parse_grid(["optim.lr=1,2", "seed=0:2"])
    assert sweep_id("name: x\n", a) == sweep_id("name: x\n", b)
    assert sweep_id("name: x\n", a) != sweep_id("name: y\n", a)
    assert sweep_id("name: x\n", a) != sweep_id("name: x\n", parse_grid(["optim.lr=1,3", "seed=0:2"]))


def test_every_point_is_validated_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="optim.lr"):
        run_sweep(str(SMOKE), ["optim.lr=1e-3,fast", f"train.runs_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="unknown key 'optim.lrr'"):
        run_sweep(str(SMOKE), ["optim.lrr=1,2", f"train.runs_dir={tmp_path}"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status, checkpoint, state, action", [
    (None, False, "pending", "start"), ("finished", True, "finished", None), ("running", True, "running", None),
    ("interrupted", True, "interrupted", "resume"), ("killed", True, "interrupted", "resume"),
    ("killed", False, "stale", "start"), ("failed", True, "failed", None)])
def test_what_a_rerun_does_with_each_point(tmp_path, status, checkpoint, state, action):
    point = parse_grid(["seed=0:2"]).points()[0]
    if status is not None:
        make_run(tmp_path / point.name, status=status, checkpoint=checkpoint)
    got_state, _, args = plan_point(tmp_path, "c.yaml", point, retry_failed=False)
    assert got_state == state
    if action is None:
        assert args is None
    elif action == "resume":
        assert args == ["train", "--resume", str(tmp_path / point.name)]
    else:
        assert args == ["train", "c.yaml", "seed=0", "--run-dir", str(tmp_path / point.name)]


def test_retry_failed_resumes_from_the_last_checkpoint_or_starts_again(tmp_path):
    a, b = parse_grid(["seed=0:2"]).points()
    make_run(tmp_path / a.name, status="failed")
    make_run(tmp_path / b.name, status="failed", checkpoint=False)
    assert plan_point(tmp_path, "c.yaml", a, retry_failed=True)[2][1] == "--resume"
    assert plan_point(tmp_path, "c.yaml", b, retry_failed=True)[2][-2] == "--run-dir"


def test_set_aside_keeps_the_folder(tmp_path):
    run = make_run(tmp_path / "000", status="killed", checkpoint=False)
    assert point_state(run)[0] == "stale"
    moved = set_aside(tmp_path, run)
    assert moved == tmp_path / ".attempts" / "000-1" and (moved / "meta.json").is_file() and not run.exists()
    make_run(tmp_path / "000", status="killed", checkpoint=False)
    assert set_aside(tmp_path, tmp_path / "000") == tmp_path / ".attempts" / "000-2"


def test_one_sweep_at_a_time(tmp_path):
    with SweepLock(tmp_path):
        with pytest.raises(XaiError, match=f"another xai sweep is running it \\(pid {os.getpid()}\\)"):
            with SweepLock(tmp_path):
                pass
    with SweepLock(tmp_path):  # released
        pass


def test_the_record_refuses_another_grid_and_keeps_launch_counts(tmp_path):
    grid = parse_grid(["seed=0:2"])
    record = SweepRecord(tmp_path, "s", "c.yaml", grid, grid.points())
    record.update(1, launches=2, state="finished")
    again = SweepRecord(tmp_path, "s", "c.yaml", grid, grid.points())
    assert again.point(1)["launches"] == 2
    other = parse_grid(["seed=0:3"])
    with pytest.raises(XaiError, match="records another grid"):
        SweepRecord(tmp_path, "s", "c.yaml", other, other.points())


def test_slots_one_per_gpu_or_a_share_of_the_cpu(monkeypatch):
    assert slots(["0", "1"], None) == [{"CUDA_VISIBLE_DEVICES": "0"}, {"CUDA_VISIBLE_DEVICES": "1"}]
    assert [s["CUDA_VISIBLE_DEVICES"] for s in slots(["0", "1"], 3)] == ["0", "1", "0"]
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert slots(None, 4) == [{"OMP_NUM_THREADS": "2"}] * 4


def test_summary_is_mean_and_std_over_seeds(tmp_path):
    points = parse_grid(["optim.lr=1,2", "seed=0:3"]).points()
    best = {0: 0.5, 1: 0.7, 2: 0.9, 3: 0.2, 4: 0.4}
    for p in points[:5]:
        make_run(tmp_path / p.name, val=[best[p.index]], epochs=1, evaluation={"accuracy": best[p.index] - 0.1})
    make_run(tmp_path / points[5].name, status="failed", val=[0.99], epochs=1)
    rows = summarize_sweep(tmp_path, points)
    assert [r["point"] for r in rows] == [{"optim.lr": "1"}, {"optim.lr": "2"}]
    first, second = rows[0]["metrics"]["best val_acc"], rows[1]["metrics"]["best val_acc"]
    assert (first["n"], first["mean"], first["std"]) == (3, pytest.approx(0.7), pytest.approx(0.2))
    assert (second["n"], second["mean"], second["std"]) == (2, pytest.approx(0.3), pytest.approx(0.1414, abs=1e-4))
    assert rows[1]["finished"] == 2 and rows[1]["runs"] == 3  # the failed seed is not averaged
    assert rows[0]["metrics"]["eval accuracy"]["mean"] == pytest.approx(0.6)


def test_dry_run_shows_the_points_and_writes_nothing(tmp_path):
    result = cli("sweep", SMOKE, "optim.lr=1e-3,1e-2", "seed=0:2", f"train.runs_dir={tmp_path}", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "4 points (dry run)" in result.output and "003-lr_1e-2-seed_1" in result.output
    assert list(tmp_path.iterdir()) == []


def test_array_spec():
    assert array_spec([0, 1, 2, 3], None) == "0-3"
    assert array_spec([0, 2, 5], 2) == "0,2,5%2"


def fake_sbatch(folder) -> str:
    sbatch = folder / "sbatch"
    sbatch.write_text(f"#!/bin/sh\necho \"$@\" >> {folder}/sbatch.calls\necho 4242\n")
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    return str(folder)


def test_slurm_writes_the_array_and_submits_only_what_is_missing(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{fake_sbatch(bin_dir)}:{os.environ['PATH']}")
    runs = tmp_path / "runs"
    args = ["optim.lr=1e-3,1e-2", "seed=0:2", f"train.runs_dir={runs}"]
    dry = run_sweep(str(SMOKE), args, slurm=True, dry_run=True, max_parallel=2)
    assert dry["job_id"] is None and not (bin_dir / "sbatch.calls").exists()
    script = (runs / dry["name"] / "slurm" / "array.sbatch").read_text()
    assert "#SBATCH --array=0-3%2" in script and "#SBATCH --signal=B:USR1@90" in script
    assert 'exec bash "$sweep/slurm/train.sbatch"' in script
    lines = (runs / dry["name"] / "slurm" / "points.tsv").read_text().splitlines()
    assert lines[3].split("\t") == [str((runs / dry["name"] / "003-lr_1e-2-seed_1").resolve()), str(SMOKE.resolve()),
                                    f"train.runs_dir={runs}", "optim.lr=1e-2", "seed=1"]
    copied = (runs / dry["name"] / "slurm" / "train.sbatch").read_text()
    assert copied == (ROOT / "scripts" / "slurm" / "train.sbatch").read_text() and "XAI_RUN_DIR" in copied
    make_run(runs / dry["name"] / "001-lr_1e-3-seed_1")  # finished meanwhile
    result = run_sweep(str(SMOKE), args, slurm=True)
    assert result["job_id"] == "4242"
    assert (bin_dir / "sbatch.calls").read_text().split() == ["--parsable", result["script"]]
    assert "#SBATCH --array=0,2,3\n" in (runs / dry["name"] / "slurm" / "array.sbatch").read_text()
    record = json.loads((runs / dry["name"] / "sweep.json").read_text())
    assert [p["state"] for p in record["points"]] == ["submitted", "finished", "submitted", "submitted"]
    assert record["launcher"] == {"mode": "slurm", "max_parallel": None, "job_id": "4242"}


def test_slurm_without_sbatch_says_where_the_script_is(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(XaiError, match="sbatch: not found.*array.sbatch"):
        run_sweep(str(SMOKE), ["seed=0:2", f"train.runs_dir={tmp_path}"], slurm=True)
    with pytest.raises(ConfigError, match="--gpus"):
        run_sweep(str(SMOKE), ["seed=0:2"], slurm=True, gpus=["0"])
