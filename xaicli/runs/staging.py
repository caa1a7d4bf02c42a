"""Output folders of `xai explain` and `xai sample`, built where no one mistakes them for finished ones.

The files go to a hidden staging folder first. When all are written, the staging folder is renamed to
RUN/<subfolder>/NNN (the next free number, reserved with an atomic mkdir and replaced by the rename),
so a numbered folder is always complete; a killed command leaves only a hidden `.partial-<pid>-*`
folder, removed by the next command once its process is gone. With `--out DIR` (new or empty) the files
are staged in DIR/.partial-* and moved up at the end, manifest.json last: a DIR without manifest.json
is unfinished.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from xaicli.errors import XaiError
from xaicli.runs.layout import make_numbered_dir, new_output_dir, safe_child

PARTIAL = ".partial-"
LAST = "manifest.json"  # moved last: its presence says the folder is complete


def stale_partials(parent: Path) -> list[Path]:
    """Staging folders whose command is no longer running."""
    from xaicli.runs.files import writer_gone

    if not parent.is_dir():
        return []
    return [p for p in parent.glob(f"{PARTIAL}*") if p.is_dir() and not p.is_symlink()
            and writer_gone(p.name[len(PARTIAL):].split(".")[0])]


class StagedOutput:
    """`path` is where to write; `commit()` puts the folder in place and returns its final path."""

    def __init__(self, run_dir: Path, subfolder: str, out: str | None) -> None:
        self.out = new_output_dir(run_dir, subfolder, out) if out is not None else None
        self.parent = self.out if self.out is not None else safe_child(run_dir, subfolder)
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
            for stale in stale_partials(self.parent):
                shutil.rmtree(stale, ignore_errors=True)
            self.path = Path(tempfile.mkdtemp(prefix=f"{PARTIAL}{os.getpid()}.", dir=self.parent))
        except OSError as exc:
            raise XaiError(f"{self.parent}: cannot create the {subfolder} folder ({exc.strerror})") from None
        self.subfolder = subfolder

    def commit(self) -> Path:
        try:
            if self.out is None:
                final = make_numbered_dir(self.parent, what=f"{self.subfolder} folder")
                os.replace(self.path, final)  # onto the empty folder just reserved: atomic
                return final
            entries = sorted(self.path.iterdir(), key=lambda p: p.name == LAST)
            for entry in entries:
                os.replace(entry, self.out / entry.name)
            self.path.rmdir()
            return self.out
        except OSError as exc:
            raise XaiError(f"{self.path}: could not move the finished {self.subfolder} into place "
                           f"({exc.strerror}); the files are kept there") from None
