"""Writing inside a run directory: atomic writes (temporary file, fsync, rename), exclusive creation,
appends that never follow a symlink, and stale temporaries.

A temporary file is named `.<name>.<pid>.<random>.tmp`: the writer's PID tells a temporary left by a
killed writer (stale: removed on the next resume) from one another process is still writing.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None:  # name the file meant, not the temporary
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def create_exclusive(path: Path, text: str) -> None:
    """Write `path` whole, or fail with FileExistsError when it exists (a symlink there counts): the
    text goes to a temporary file that is then hard-linked to `path`, which is atomic and exclusive."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
        _fsync_dir(path.parent)
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def open_append(path: Path):
    """A text file opened for appending that is never a symlink (O_NOFOLLOW)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    return os.fdopen(fd, "a", encoding="utf-8")


def is_stale_temporary(path: Path) -> bool:
    """A `.*.tmp` file whose writer is no longer running (or whose name does not say who wrote it)."""
    parts = path.name.split(".")
    return writer_gone(parts[-3] if len(parts) >= 5 else "")


def writer_gone(pid: str) -> bool:
    """True unless `pid` (text from a file name) is a process running on this machine."""
    if not pid.isdigit():
        return True
    if int(pid) == os.getpid():
        return False  # this process is writing it
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, owned by someone else
    return False


def stale_temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.glob(".*.tmp") if is_stale_temporary(p)] if folder.is_dir() else []


def clean_stale_temporaries(*folders: Path) -> None:
    """Remove temporary files left by writes that were killed half way (not another process's)."""
    for folder in folders:
        for tmp in stale_temporaries(folder):
            try:
                tmp.unlink()
            except OSError:
                pass


