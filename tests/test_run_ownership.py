"""A run has one writer (a lock held by train and resume), an explicit --run-dir is new or empty, no file a
run writes follows a symlink out of it, and a run killed before its first checkpoint can be continued."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import torch
from conftest import ARGS, ROOT, SMOKE, cli, start_training, stop_in_epoch, wait_for_step_in_epoch, xai

from xaicli.errors import ConfigError, XaiError
from xaicli.runs.layout import create_run_dir
from xaicli.runs.lock import lock_run

HOLD = """
import sys, time
from pathlib import Path
from xaicli.runs.lock import lock_run
lock = lock_run(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def held_lock(tmp_path):
    """Another process holding a run folder's lock."""
    run = tmp_path / "run"
    run.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield run, proc
    proc.kill()
    proc.wait()


def test_a_second_writer_is_refused_naming_the_holders_pid_and_host(held_lock):
    run, holder = held_lock
    with pytest.raises(XaiError) as info:
        lock_run(run)
    message = str(info.value)
    assert f"PID {holder.pid}" in message and socket.gethostname() in message and "\n" not in message


def test_the_lock_is_released_when_its_holder_dies(held_lock):
    run, holder = held_lock
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with lock_run(run) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


@pytest.mark.parametrize("planted", ["metrics.csv", "plots", "notes.txt"])
def test_an_explicit_run_dir_must_be_empty(tmp_path, planted):
    folder = tmp_path / "mine"
    folder.mkdir()
    target = folder / planted
    target.mkdir() if planted == "plots" else target.write_text("my own data\n")
    with pytest.raises(ConfigError, match="not empty") as info:
        create_run_dir(tmp_path / "runs", "x", folder)
    assert planted in str(info.value)
    assert sorted(p.name for p in folder.iterdir()) == [planted]


def test_the_root_folder_is_not_a_run_dir():
    with pytest.raises(ConfigError, match="not empty"):
        create_run_dir("runs", "x", "/")


def test_planted_symlinks_make_a_new_run_dir_non_empty(tmp_path):
    folder, outside = tmp_path / "new", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (folder / "log.txt").symlink_to(outside / "log.txt")
    (folder / "plots").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError, match="not empty"):
        create_run_dir(tmp_path / "runs", "x", folder)


def test_a_folder_left_by_a_run_killed_before_its_config_counts_as_empty(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / ".lock").write_text("")
    (folder / ".config.yaml.999999999.abcd.tmp").write_text("half")  # no such process
    assert create_run_dir(tmp_path / "runs", "x", folder) == folder


def test_appends_never_follow_a_symlink_planted_in_a_run(tmp_path):
    from xaicli.runs.metrics_log import MetricsWriter
    from xaicli.viz import console

    run, outside = tmp_path / "run", tmp_path / "outside.txt"
    run.mkdir()
    outside.write_text("mine\n")
    for name in ("metrics.jsonl", "log.txt"):
        (run / name).symlink_to(outside)
    with pytest.raises(OSError):
        MetricsWriter(run).row("step", step=1)
    with pytest.raises(OSError):
        with console.log_to(run / "log.txt"):
            console.info("hello")
    (run / "metrics.csv.tmp").symlink_to(outside)
    (run / "metrics.jsonl").unlink()
    MetricsWriter(run).epoch(epoch=1, loss=0.5)  # the CSV is replaced atomically, never written through
    assert outside.read_text() == "mine\n"


def test_plots_and_checkpoints_are_not_written_through_a_symlinked_folder(tmp_path):
    from xaicli.runs.layout import safe_child

    run, outside = tmp_path / "run", tmp_path / "outside"
    run.mkdir()
    outside.mkdir()
    (run / "plots").symlink_to(outside, target_is_directory=True)
    with pytest.raises(XaiError, match="outside the run directory"):
        safe_child(run, "plots/training.png")


@pytest.mark.e2e
def test_a_second_train_or_resume_of_a_running_run_is_refused_and_readers_proceed(tmp_path):
    run = tmp_path / "run"
    first = start_training(run, ["train.epochs=50"])  # still running while the others try
    try:
        wait_for_step_in_epoch(run, 2, first)
        before = (run / "metrics.jsonl").read_text()
        resume = xai("train", "--resume", run)
        assert resume.returncode == 1, resume.stderr
        assert f"PID {first.pid}" in resume.stderr and socket.gethostname() in resume.stderr
        assert len(resume.stderr.strip().splitlines()) == 1
        again = xai("train", SMOKE, *ARGS, "--run-dir", run)
        assert again.returncode == 2 and "already holds a run" in again.stderr
        assert (run / "metrics.jsonl").read_text().startswith(before)  # nothing rewritten by them
        reader = xai("eval", run, "--json")  # readers take no lock
        assert reader.returncode == 0, reader.stderr
    finally:
        first.kill()
        first.wait()


@pytest.mark.e2e
def test_three_trainings_into_one_run_dir_at_once_make_one_run(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "xaicli", "train", str(SMOKE), "train.epochs=1", "--run-dir",
                               str(run)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes[0] == 0 and codes[1:] != [0, 0], outs
    for p, (_, err) in zip(procs, outs, strict=True):
        if p.returncode:
            assert "already holds a run" in err or "in use by another xai train" in err, err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["kind"] == "epoch" for r in rows) == 1  # one writer's rows only


@pytest.mark.e2e
def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tmp_path):
    reference = tmp_path / "reference"
    xai("train", SMOKE, *ARGS, "--run-dir", reference, check=True)
    run = tmp_path / "run"
    stop_in_epoch(run, epoch=1, signum=signal.SIGKILL)
    assert not (run / "checkpoints" / "last.pt").exists()
    again = xai("train", SMOKE, *ARGS, "--run-dir", run)
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = xai("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert "starting from the beginning" in resumed.stderr
    a = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(reference / "checkpoints" / "last.pt", weights_only=True)
    for k, t in b["models"]["model"].items():
        assert torch.equal(a["models"]["model"][k], t), k
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["kind"] == "step"]
    assert steps == sorted(set(steps))  # the killed attempt's rows are not repeated


def test_a_run_killed_after_its_last_checkpoint_gets_its_end_recorded_on_resume(tmp_path):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    assert cli("train", SMOKE, "train.epochs=1", "--run-dir", run).exit_code == 0
    record = json.loads((run / "meta.json").read_text())
    record.update(exit_code=None, end_time=None)  # killed while drawing the curves
    (run / "meta.json").write_text(json.dumps(record))
    (run / "plots" / "training.png").unlink()
    result = cli("train", "--resume", run)
    assert result.exit_code == 0 and "already finished" in result.stderr
    assert json.loads((run / "meta.json").read_text())["exit_code"] == 0
    assert (run / "plots" / "training.png").is_file()


def test_a_users_own_tmp_file_makes_a_run_dir_non_empty(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.tmp").write_text("mine")
    with pytest.raises(ConfigError, match="notes.tmp"):
        create_run_dir(tmp_path / "runs", "x", folder)


def test_the_slurm_script_continues_any_run_that_has_a_config():
    script = (ROOT / "scripts" / "slurm" / "train.sbatch").read_text()
    assert 'if [ -f "$run_dir/config.yaml" ]' in script
