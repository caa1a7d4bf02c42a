"""A run's status on this machine comes from the kernel's lock table: a writer that holds RUN/.lock is
running, one that died (SIGKILL) left the lock free, whatever its files say."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time

from xaicli.runs.lock import LOCK_NAME, lock_held, lock_run
from xaicli.runs.status import run_status

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from xaicli.runs.lock import lock_run
    lock = lock_run(Path(sys.argv[1]))
    print("held", flush=True)
    time.sleep(60)
""")


def _holder(run):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_lock_is_running_and_a_killed_holder_frees_it(tmp_path):
    run = tmp_path / "run-001"
    run.mkdir()
    (run / "config.yaml").write_text("seed: 0\n")
    proc = _holder(run)
    try:
        assert lock_held(run) is True
        assert run_status(run, None).status == "running"  # config.yaml written, meta.json not yet
        meta = {"pid": proc.pid, "host": socket.gethostname(), "exit_code": None}
        assert run_status(run, meta).status == "running"
    finally:
        proc.kill()
        proc.wait()
    assert lock_held(run) is False
    # killed between config.yaml and meta.json, a moment ago: not "starting", never started
    status = run_status(run, None)
    assert status.status == "failed" and "never started" in status.detail
    meta = {"pid": proc.pid, "host": socket.gethostname(), "exit_code": None}
    assert run_status(run, meta).status == "interrupted"


def test_asking_takes_no_lock(tmp_path):
    run = tmp_path / "run-001"
    run.mkdir()
    with lock_run(run):
        for _ in range(50):
            assert lock_held(run) is True
    with lock_run(run):  # the question never kept the lock from its next writer
        pass


def test_a_run_without_a_lock_file_is_judged_as_before(tmp_path):
    run = tmp_path / "run-001"
    run.mkdir()
    assert lock_held(run) is None
    (run / "metrics.jsonl").write_text("{}\n")
    meta = {"pid": 999_999_999, "host": socket.gethostname(), "exit_code": None}
    assert run_status(run, meta).status == "interrupted"  # no such process
    assert not (run / LOCK_NAME).exists()
    assert run_status(run, None, now=time.time()).status == "running"  # files written just now
