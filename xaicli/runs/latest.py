"""`runs/latest`: a symlink to the newest run, so the last run is never lost among numbered folders."""

from __future__ import annotations

import os
from pathlib import Path

LATEST = "latest"


def point_latest(runs_dir: str | Path, run_dir: Path) -> Path | None:
    """Make `runs_dir/latest` point at `run_dir` (relative, so the folder can move) when the run lives
    under `runs_dir`; replaced atomically (a new link renamed over the old one). Runs elsewhere
    (`--run-dir /tmp/x`) leave it alone. Returns the link, or None when none was made."""
    root = Path(runs_dir)
    try:
        target = Path(os.path.relpath(run_dir.resolve(), root.resolve()))
    except ValueError:  # another drive
        return None
    if target.parts[:1] in (("..",), ()) or target.is_absolute():
        return None
    link = root / LATEST
    if link.exists() and not link.is_symlink():
        return None  # a real folder named latest is the user's: never replace it
    tmp = root / f".{LATEST}.{os.getpid()}.tmp"
    try:
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(target, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:  # no symlinks here (some filesystems): the listing still finds the newest run
        try:
            tmp.unlink()
        except OSError:
            pass
        return None
    return link
