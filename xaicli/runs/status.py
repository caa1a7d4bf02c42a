"""A run's status from its files: finished, interrupted, failed or running.

meta.json's exit_code says how a run ended: 0 finished, 130 / 143 interrupted (a signal, after saving a
checkpoint), anything else failed. A null exit_code means the process is still at work, or was killed
before it could write one (SIGKILL, an out-of-memory kill, a node that went down). Telling the two apart
honestly needs the process that holds the run: `holder()` names it from RUN/.lock, which the training
that holds the run's lock wrote (runs/lock.py), else from the pid and host that meta.json records.

On this host the kernel is asked whether a process holds the run's lock (runs/lock.py: lock_held), which
also tells a start killed between config.yaml and meta.json from one still starting; a run without a
lock file (older runs) has its holder's pid checked (the process exists and is an xai process, not a
recycled pid). A run held on another host (a shared filesystem, a SLURM node) cannot be asked: it counts as
running while its files keep changing (every `train.log_every` steps), for ACTIVE_WINDOW_S.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from xaicli.runs.lock import lock_held

STATUSES = ("finished", "interrupted", "failed", "running")
INTERRUPTED_CODES = (130, 143)
ACTIVE_WINDOW_S = 15 * 60  # another host's run is running while its files changed this recently
STARTING_WINDOW_S = 120  # a run folder with config.yaml but no meta.json yet is starting for this long
ACTIVITY_FILES = ("metrics.jsonl", "log.txt", "meta.json", "config.yaml")


@dataclass(frozen=True)
class Holder:
    """The process that holds a run: its pid and the host it runs on."""

    pid: int
    host: str


@dataclass(frozen=True)
class Status:
    status: str  # one of STATUSES
    detail: str  # why, in a few words, for a person


def holder(run_dir: Path, meta: dict) -> Holder | None:
    """Who holds the run: the last writer named in its lock file, else meta.json's pid and host."""
    import json

    from xaicli.runs.lock import LOCK_NAME

    try:
        info = json.loads((run_dir / LOCK_NAME).read_bytes())
    except (OSError, ValueError):
        info = None
    for record in (info, meta):
        if isinstance(record, dict) and isinstance(record.get("pid"), int) and isinstance(record.get("host"), str):
            return Holder(record["pid"], record["host"])
    return None


def process_alive(pid: int) -> bool:
    """The process exists and is an xai process (on Linux its command line says so: a recycled pid
    belongs to something else)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    except OSError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"xai" in cmdline.read_bytes()
    except OSError:
        return True  # no /proc (macOS): the pid exists, which is all we can know


def last_activity(run_dir: Path) -> float | None:
    """The newest modification time of the files a live run keeps writing."""
    times = []
    for name in ACTIVITY_FILES:
        try:
            times.append((run_dir / name).stat().st_mtime)
        except OSError:
            continue
    return max(times, default=None)


def _ago(seconds: float) -> str:
    from xaicli.viz.console import duration

    return f"{duration(max(0.0, seconds))} ago"


def run_status(run_dir: Path, meta: dict | None, now: float | None = None) -> Status:
    """The status of the run in `run_dir` whose meta.json holds `meta` (None: there is none yet)."""
    now = time.time() if now is None else now
    code = meta.get("exit_code") if meta is not None else None
    if code == 0:
        return Status("finished", "exit 0")
    if code in INTERRUPTED_CODES:
        return Status("interrupted", f"exit {code}; xai train --resume continues it")
    if code is not None:
        return Status("failed", f"exit {code}")
    who = holder(run_dir, meta or {})
    here = who is None or who.host == socket.gethostname()
    held = lock_held(run_dir) if here else None  # this machine's kernel knows whether a writer holds the run
    if meta is None:
        if held is None:
            seen = last_activity(run_dir)
            held = seen is not None and now - seen < STARTING_WINDOW_S
        return Status("running", "starting (no meta.json yet)") if held else \
            Status("failed", "never started training (no meta.json)")
    if held is not None:
        if held:
            return Status("running", f"pid {who.pid}" if who is not None else "its lock is held")
        return Status("interrupted", "killed (its lock is free, no exit code)")
    if who is not None and here:
        if process_alive(who.pid):
            return Status("running", f"pid {who.pid}")
        return Status("interrupted", f"killed (pid {who.pid} is gone, no exit code)")
    seen = last_activity(run_dir) or 0.0
    where = f" on {who.host}" if who is not None else ""
    if now - seen < ACTIVE_WINDOW_S:
        return Status("running", f"{where.strip() or 'no pid recorded'}, active {_ago(now - seen)}")
    return Status("interrupted", f"no exit code and no activity{where} for {_ago(now - seen)[:-4]}")
