"""metrics.jsonl (one object per logged step, epoch or evaluation) and metrics.csv (one row per epoch).

Listeners (the run's trackers, xaicli/tracking) get each row right after it is written, the same dict at
the same moment, and hear when an epoch's files are done and when the run ends; they must not raise.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Sequence

from xaicli.runs.files import atomic_write_text, open_append


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsWriter:
    """Appends never follow a symlink (O_NOFOLLOW) and the CSV is replaced atomically, so nothing planted
    in the run directory redirects a write outside it. Each row also goes to the listeners (trackers)."""

    def __init__(self, run_dir: Path, listeners: Sequence = ()) -> None:
        self.jsonl = run_dir / "metrics.jsonl"
        self.csv = run_dir / "metrics.csv"
        self.listeners = list(listeners)

    def row(self, kind: str, **values) -> None:
        record = {"kind": kind, **{k: _clean(v) for k, v in values.items()}}
        with open_append(self.jsonl) as fh:
            fh.write(json.dumps(record) + "\n")
        for listener in self.listeners:
            listener.on_row(record)

    def epoch_done(self, epoch: int) -> None:
        """Epoch `epoch` (from 1) has written all its files (checkpoints, sample grids)."""
        for listener in self.listeners:
            listener.on_epoch_end(epoch)

    def close(self, exit_code: int) -> None:
        for listener in self.listeners:
            listener.close(exit_code)
        self.listeners = []

    def epoch(self, **values) -> None:
        """Append an epoch row to both files; the CSV header grows if new columns appear."""
        self.row("epoch", **values)
        write_csv(self.csv, read_epochs(self.jsonl))


def write_csv(path: Path, rows: list[dict]) -> None:
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns and k != "kind"]
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def truncate_after(run_dir: Path, global_step: int, epoch: int) -> None:
    """Forget rows logged after a checkpoint's position (`epoch` epochs and `global_step` steps done):
    the resumed run logs them again, so metrics.jsonl and metrics.csv read as one uninterrupted run."""
    jsonl = run_dir / "metrics.jsonl"
    if not jsonl.is_file():
        return
    text = "".join(json.dumps(r) + "\n" for r in read_rows(jsonl) if not _after(r, global_step, epoch))
    if text != jsonl.read_text(encoding="utf-8"):  # also drops a line cut short by a kill
        atomic_write_text(jsonl, text)
        write_csv(run_dir / "metrics.csv", read_epochs(jsonl))


def _after(row: dict, global_step: int, epoch: int) -> bool:
    kind = row.get("kind")
    if kind == "step":
        step = row.get("step")
        return not isinstance(step, int) or step > global_step
    if kind == "epoch":
        number = row.get("epoch")
        return not isinstance(number, int) or number > epoch
    return False


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill: skip it
    return rows


def read_epochs(path: Path) -> list[dict]:
    """Epoch rows, the last one per epoch winning (a resumed run may repeat an epoch)."""
    by_epoch: dict[int, dict] = {}
    for r in read_rows(path):
        if r.get("kind") == "epoch":
            by_epoch[r["epoch"]] = r
    return [by_epoch[k] for k in sorted(by_epoch)]
