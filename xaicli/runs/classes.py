"""RUN/classes.json: the class names a run was trained on, index by index. Written when training starts;
read by every later command, which checks that the data still has these classes."""

from __future__ import annotations

import json
from pathlib import Path

from xaicli.errors import XaiError
from xaicli.runs.files import atomic_write_text

CLASSES_FILE = "classes.json"


def _describe(names: list[str]) -> str:
    shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
    return f"{len(names)} classes ({shown})"


def read_classes(run_dir: Path) -> list[str] | None:
    """The recorded class names, or None for a run written before classes.json existed."""
    path = Path(run_dir) / CLASSES_FILE
    if not path.is_file():
        return None
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise XaiError(f"{path}: unreadable ({exc}); it should be a JSON list of class names") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise XaiError(f"{path}: expected a JSON list of class names")
    return names


def record_classes(run_dir: Path, names: list[str]) -> None:
    """Write classes.json, or check a resumed run's data against it."""
    recorded = read_classes(run_dir)
    if recorded is None:
        atomic_write_text(Path(run_dir) / CLASSES_FILE, json.dumps(list(names), indent=1, ensure_ascii=False) + "\n")
    else:
        check_classes(run_dir, recorded, names)


def check_classes(run_dir: Path, recorded: list[str], found: list[str]) -> list[str]:
    """The recorded names when the data's classes are the same; otherwise an error naming the difference."""
    if list(found) != recorded:
        gone = [n for n in recorded if n not in found]
        new = [n for n in found if n not in recorded]
        what = (f"now missing: {', '.join(gone[:5])}; " if gone else "") + \
               (f"new: {', '.join(new[:5])}; " if new else "") + ("" if gone or new else "the order differs; ")
        raise XaiError(f"{Path(run_dir) / CLASSES_FILE}: the run was trained on {_describe(recorded)}, but its data "
                       f"now has {_describe(list(found))} ({what}its class indices would not match)")
    return recorded
