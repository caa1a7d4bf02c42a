"""Console output: messages to standard error, copied to the run's log.txt; silent on non-zero ranks."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TextIO

_state: dict = {"log": None, "log_path": None, "quiet": False, "failure": None, "dead_stderr": None}


def set_quiet(quiet: bool) -> None:
    """Ranks other than 0 print nothing."""
    _state["quiet"] = quiet


@contextmanager
def log_to(path: Path) -> Iterator[None]:
    """Append every message to `path` (the run's log.txt) while the block runs; never through a symlink.
    A write that fails (a full disk, a closed standard error) is recorded, not raised: the training loop
    reads `first_failure()` and stops with a saved checkpoint."""
    from xaicli.runs.files import open_append

    fh: TextIO = open_append(path)
    previous = _state["log"], _state["log_path"]
    _state["log"], _state["log_path"], _state["failure"] = fh, path, None
    try:
        yield
    finally:
        _state["log"], _state["log_path"] = previous
        try:
            fh.close()
        except OSError:
            pass


def first_failure() -> str | None:
    """The first failed write to standard error or log.txt since `log_to` began, as a one-line error."""
    return _state["failure"]


def _failed(where: str, exc: Exception) -> None:
    if _state["failure"] is None:
        _state["failure"] = f"could not write {where} ({getattr(exc, 'strerror', None) or exc})"


def _emit(text: str) -> None:
    if _state["quiet"]:
        return
    stream = sys.stderr
    if stream is not None and stream is not _state["dead_stderr"]:
        try:
            print(text, file=stream, flush=True)
        except (OSError, ValueError) as exc:  # a closed pipe (xai train ... 2>&1 | head), a full disk
            _state["dead_stderr"] = stream
            _failed("to standard error", exc)
    to_log_only(text)


def to_log_only(text: str) -> None:
    """Copy a line into log.txt alone (the live progress bar has already shown it)."""
    fh = _state["log"]
    if fh is not None and not _state["quiet"]:
        try:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")
            fh.flush()
        except (OSError, ValueError) as exc:
            _state["log"] = None  # stop writing there; log_to closes it
            _failed(str(_state["log_path"]), exc)


def info(msg: str) -> None:
    _emit(msg)


def warn(msg: str) -> None:
    _emit(f"warning: {msg}")


def is_quiet() -> bool:
    return _state["quiet"]


def duration(seconds: float) -> str:
    """37 s, 4 min 03 s, 2 h 05 min."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
