"""One writer per run: `xai train` (new or --resume) holds an exclusive lock on RUN/.lock while it runs.

The lock is `flock` on a file inside the run directory, so the kernel releases it when the process
ends, however it ends (SIGKILL included): a lock is never stale. The file says who holds it (PID, host,
command, since when), so a refused second writer can name the holder. Readers (eval, sample, explain)
take no lock and proceed.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from xaicli.errors import XaiError

LOCK_NAME = ".lock"


class RunLock:
    """A held lock; `release()` (or the end of the process) lets the next writer in."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def holder_text(raw: bytes) -> str:
    """'PID 123 on host gpu7, xai train ..., since ...' from a lock file's contents."""
    try:
        info = json.loads(raw.decode("utf-8"))
        return (f"PID {info['pid']} on host {info['host']}, '{' '.join(info.get('command', []))[:80]}', "
                f"since {info.get('since', '?')}")
    except (ValueError, KeyError, TypeError):
        return "a process that has not written its name yet"


def lock_run(run_dir: Path) -> RunLock:
    """Take the run's lock or refuse with one line naming the holder."""
    import fcntl

    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise XaiError(f"{path}: cannot open the run's lock file ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = holder_text(os.pread(fd, 4096, 0))
        os.close(fd)
        raise XaiError(f"{run_dir}: in use by another xai train ({holder}); only one command may write a "
                       f"run: wait for it to end, or stop it and continue with xai train --resume {run_dir}") from None
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": ["xai", *sys.argv[1:]],
              "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode("utf-8") + b"\n", 0)
    return RunLock(path, fd)


def lock_held(run_dir: Path) -> bool | None:
    """Whether a live process on this machine holds the run's lock, read from the kernel's table of locks
    (/proc/locks), so the question takes no lock itself and cannot turn a starting writer away. None
    where the run has no lock file (runs older than the lock) or that table is missing (not Linux): the
    caller must judge otherwise."""
    try:
        inode = (Path(run_dir) / LOCK_NAME).stat().st_ino
    except OSError:
        return None
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()
        if "FLOCK" in fields and any(f.count(":") == 2 and f.rsplit(":", 1)[1] == str(inode) for f in fields):
            return True
    return False
