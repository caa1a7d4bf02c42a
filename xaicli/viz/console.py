"""Console output: messages to standard error, copied to the run's log.txt; silent on non-zero ranks."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TextIO

_state: dict = {"log": None, "quiet": False}


def set_quiet(quiet: bool) -> None:
    """Ranks other than 0 print nothing."""
    _state["quiet"] = quiet


@contextmanager
def log_to(path: Path) -> Iterator[None]:
    """Append every message to `path` (the run's log.txt) while the block runs; never through a symlink."""
    from xaicli.runs.files import open_append

    fh: TextIO = open_append(path)
    previous = _state["log"]
    _state["log"] = fh
    try:
        yield
    finally:
        _state["log"] = previous
        fh.close()


def _emit(text: str) -> None:
    if _state["quiet"]:
        return
    print(text, file=sys.stderr, flush=True)
    to_log_only(text)


def to_log_only(text: str) -> None:
    """Copy a line into log.txt alone (the live progress bar has already shown it)."""
    if _state["log"] is not None and not _state["quiet"]:
        _state["log"].write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")
        _state["log"].flush()


def info(msg: str) -> None:
    _emit(msg)


def warn(msg: str) -> None:
    _emit(f"warning: {msg}")


def is_quiet() -> bool:
    return _state["quiet"]
