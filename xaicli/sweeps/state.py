"""A sweep's state: each point's, read from its run directory (the truth), and sweep.json (the record).

A point is `pending` (no run directory), `finished`, `running` (a live process holds its run: never
started twice), `interrupted` (stopped or killed after a checkpoint: resumed with --resume), `stale`
(a run directory with no checkpoint, whose process is gone: set aside into .attempts/ and started
again, so nothing is deleted and no point has two runs) or `failed` (left alone unless --retry-failed).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

from xaicli.errors import XaiError
from xaicli.runs.files import write_json
from xaicli.runs.listing import read_json
from xaicli.runs.meta import now
from xaicli.runs.status import run_status
from xaicli.sweeps.grid import Grid, Point

RECORD = "sweep.json"
ATTEMPTS = ".attempts"
LOCK = ".lock"


def point_state(run_dir: Path) -> tuple[str, str]:
    """(state, detail) of one point from its run directory."""
    if not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir())):
        return "pending", ""
    status = run_status(run_dir, read_json(run_dir / "meta.json"))
    saved = (run_dir / "checkpoints" / "last.pt").is_file()
    if status.status in ("finished", "running"):
        return status.status, status.detail
    if status.status == "interrupted":
        return ("interrupted" if saved else "stale"), status.detail
    if not saved and "never started" in status.detail:
        return "stale", status.detail
    return "failed", status.detail


def set_aside(sweep_dir: Path, run_dir: Path) -> Path:
    """Move a point's unusable run directory into .attempts/ (hidden from `xai runs`), never deleting it."""
    folder = sweep_dir / ATTEMPTS
    folder.mkdir(exist_ok=True)
    n = 1
    while (folder / f"{run_dir.name}-{n}").exists():
        n += 1
    target = folder / f"{run_dir.name}-{n}"
    os.replace(run_dir, target)
    return target


class SweepRecord:
    """sweep.json: the grid, how it was launched and each point's state, rewritten atomically."""

    def __init__(self, sweep_dir: Path, name: str, config: str, grid: Grid, points: list[Point]) -> None:
        self.path = sweep_dir / RECORD
        self.data: dict = {"name": name, "config": config, "command": sys.argv[:], "created": now(),
                           "updated": now(), "grid": grid.to_dict(), "launcher": {},
                           "points": [{"index": p.index, "name": p.name, "values": p.values,
                                       "overrides": list(p.overrides), "run_dir": str(sweep_dir / p.name),
                                       "state": "pending", "detail": "", "exit_code": None, "launches": 0}
                                      for p in points]}
        old = read_json(self.path)
        if old is not None:
            if old.get("grid") != self.data["grid"]:
                raise XaiError(f"{self.path}: records another grid ({json.dumps(old.get('grid'))}); give this "
                               f"sweep another --name")
            self.data["created"] = old.get("created", self.data["created"])
            launches = {p.get("index"): p.get("launches", 0) for p in old.get("points", [])}
            for p in self.data["points"]:
                p["launches"] = launches.get(p["index"], 0)

    def point(self, index: int) -> dict:
        return self.data["points"][index]

    def update(self, index: int, **fields) -> None:
        self.point(index).update(fields)
        self.save()

    def save(self) -> None:
        self.data["updated"] = now()
        write_json(self.path, self.data)


class SweepLock:
    """One `xai sweep` at a time per sweep folder: an advisory lock the kernel drops when its holder dies,
    however it dies."""

    def __init__(self, sweep_dir: Path) -> None:
        self.path = sweep_dir / LOCK
        self.fh = None

    def __enter__(self) -> SweepLock:
        self.fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "another process"
            self.fh.close()
            raise XaiError(f"{self.path.parent}: another xai sweep is running it ({holder}); wait for it, or stop "
                           f"it and run this command again") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()}\n")
        self.fh.flush()
        return self

    def __exit__(self, *exc) -> None:
        if self.fh is not None:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()
