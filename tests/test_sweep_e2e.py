"""Sweeps with real training: a 6-point sweep killed with SIGKILL after 2 points finished, run again with the
same command, ends with exactly 6 runs, none twice; a SLURM array task runs (and on requeue resumes) its
point through the same requeue-and-resume script, with srun, torchrun and scontrol stood in for."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, SMOKE

from xaicli.runs.listing import find_runs

pytestmark = pytest.mark.e2e

# 2 epochs of 28 steps: long enough for a point to be caught between its first checkpoint and its end
POINT_ARGS = ["data.num_train=512", "data.batch_size=16", "train.epochs=2", "train.log_every=8"]


def sweep_command(runs) -> list[str]:
    return [sys.executable, "-m", "xaicli", "sweep", str(SMOKE), "optim.lr=1e-3,3e-3", "seed=0:3", *POINT_ARGS,
            f"train.runs_dir={runs}", "--name", "grid", "--max-parallel", "2"]


def finished(run_dir) -> bool:
    try:
        return json.loads((run_dir / "meta.json").read_text()).get("exit_code") == 0
    except (OSError, ValueError):
        return False


def test_a_killed_sweep_rerun_ends_with_each_point_once(tmp_path):
    runs = tmp_path / "runs"
    sweep = runs / "grid"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(sweep_command(runs), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 900  # a few tens of seconds on a quiet machine
    while True:  # until 2 points have finished and another has saved a checkpoint but not finished
        points = sorted(p for p in sweep.glob("0*") if p.is_dir()) if sweep.is_dir() else []
        done = [p for p in points if finished(p)]
        midway = [p for p in points if not finished(p) and (p / "checkpoints" / "last.pt").is_file()]
        if len(done) >= 2 and midway:
            break
        assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.communicate()[1][-2000:]}"
        assert time.time() < deadline, f"no point was caught midway ({[p.name for p in done]} finished)"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its training process, as a dead node would
    proc.wait()
    before = {p.name: (p / "meta.json").read_text() for p in done}
    assert len(before) >= 2

    again = subprocess.run(sweep_command(runs), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip().splitlines()[-1] == str(sweep)
    record = json.loads((sweep / "sweep.json").read_text())
    names = [p["name"] for p in record["points"]]
    found = find_runs(sweep)
    assert sorted(p.name for p in found) == sorted(names) and len(found) == 6  # exactly 6 runs, none twice
    assert all(p["state"] == "finished" for p in record["points"])
    for name, meta in before.items():  # the finished points were not run again
        assert (sweep / name / "meta.json").read_text() == meta
    resumed = [p for p in found if "previous_attempts" in json.loads((p / "meta.json").read_text())]
    assert resumed, "the point killed after its first checkpoint is resumed, not started again"
    assert "resuming at epoch 2" in (resumed[0] / "log.txt").read_text()
    for p in record["points"]:  # each run holds its own point's config
        config = (sweep / p["name"] / "config.yaml").read_text()
        assert f"seed: {p['values']['seed']}\n" in config
        assert f"lr: {float(p['values']['optim.lr'])}\n" in config
    assert "optim.lr" in again.stdout and "best val_acc" in again.stdout  # the summary over seeds


def stand_ins(folder) -> str:
    """srun and torchrun that run the command they are given on this machine; scontrol that knows one host."""
    folder.mkdir()
    scripts = {
        "srun": '#!/bin/sh\nwhile [ "${1#-}" != "$1" ]; do shift; done\nexec "$@"\n',
        "torchrun": f'#!/bin/sh\nwhile [ "${{1#--}}" != "$1" ]; do shift; done\nexec {sys.executable} "$@"\n',
        "scontrol": '#!/bin/sh\n[ "$1" = show ] && echo localhost\nexit 0\n',
    }
    for name, text in scripts.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return str(folder)


def test_a_slurm_array_task_runs_its_point_and_a_requeue_resumes_it(tmp_path, monkeypatch):
    from xaicli.sweeps import run_sweep

    monkeypatch.chdir(ROOT)
    runs = tmp_path / "runs"
    result = run_sweep(str(SMOKE), ["seed=0:2", "train.epochs=1", f"train.runs_dir={runs}"], slurm=True,
                       dry_run=True)
    script = result["script"]
    env = {**os.environ, "PATH": f"{stand_ins(tmp_path / 'bin')}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1",
           "SLURM_ARRAY_TASK_ID": "1", "SLURM_JOB_ID": "77", "SLURM_JOB_NAME": "grid",
           "SLURM_JOB_NODELIST": "localhost", "SLURM_NNODES": "1", "SLURM_GPUS_ON_NODE": "1"}
    point = runs / result["name"] / "001-seed_1"
    stale = runs / result["name"] / "000-seed_0"
    stale.mkdir(parents=True)
    (stale / "config.yaml").write_text("name: killed before its first checkpoint\n")
    first = subprocess.run(["bash", script], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    assert finished(point) and "seed: 1\n" in (point / "config.yaml").read_text()
    requeued = subprocess.run(["bash", script], env=env, capture_output=True, text=True, timeout=300)
    assert requeued.returncode == 0 and "already finished" in requeued.stderr
    task0 = subprocess.run(["bash", script], env={**env, "SLURM_ARRAY_TASK_ID": "0"}, capture_output=True,
                           text=True, timeout=300)
    assert task0.returncode == 0, task0.stderr[-3000:]
    assert finished(stale) and [p.name for p in (runs / result["name"] / ".attempts").iterdir()][0].startswith(
        "000-seed_0-job77-")
    assert sorted(p.name for p in find_runs(runs / result["name"])) == ["000-seed_0", "001-seed_1"]


def test_a_run_killed_after_its_last_checkpoint_is_finished_by_resume(smoke_run, tmp_path):
    """Killed between the last checkpoint and meta.json's end: `--resume` has nothing to train and records the
    end, so the run (and the sweep point) does not stay interrupted forever."""
    import shutil

    from conftest import xai

    from xaicli.runs.listing import summarize

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    meta = json.loads((run / "meta.json").read_text())
    meta.update(exit_code=None, end_time=None, pid=2 ** 22 + 7)
    (run / "meta.json").write_text(json.dumps(meta))
    assert summarize(run, tmp_path)["status"] == "interrupted"
    proc = xai("train", "--resume", run)
    assert proc.returncode == 0 and "already finished" in proc.stderr
    assert summarize(run, tmp_path)["status"] == "finished"
    assert json.loads((run / "meta.json").read_text())["exit_code"] == 0


def test_ctrl_c_stops_a_sweep_after_saving_and_the_same_command_resumes_it(tmp_path):
    """SIGINT to the sweep alone: it passes the signal on, the running point saves and stops (130), nothing new
    starts; the same command then resumes that point and runs the rest."""
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "xaicli", "sweep", str(SMOKE), "seed=0:2", "data.num_train=2048",
               "data.batch_size=16", "train.epochs=2", "train.log_every=1", f"train.runs_dir={runs}", "--name", "s"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = runs / "s" / "000-seed_0"
    deadline = time.time() + 600
    while not (first / "metrics.jsonl").is_file() or '"step": 3,' not in (first / "metrics.jsonl").read_text():
        assert proc.poll() is None and time.time() < deadline, "the first point never started training"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "error: sweep stopped; run the same command again to resume it" in err
    assert json.loads((first / "meta.json").read_text())["exit_code"] == 130
    assert not (runs / "s" / "001-seed_1").exists()  # nothing new started
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming at epoch 1" in (first / "log.txt").read_text()
    record = json.loads((runs / "s" / "sweep.json").read_text())
    assert [(p["state"], p["launches"]) for p in record["points"]] == [("finished", 2), ("finished", 1)]
