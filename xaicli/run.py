"""The run directory: created without overwriting, its paths, atomic writes, safe checkpoint loading."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from xaicli.errors import ConfigError, XaiError

CHECKPOINT_FORMAT = 1
RUN_MARKERS = ("config.yaml", "meta.json", "checkpoints")


def is_run(path: Path) -> bool:
    return path.is_dir() and (path / "config.yaml").is_file()


def create_run_dir(runs_dir: str | Path, name: str, explicit: str | Path | None = None) -> Path:
    """Make a new run directory: `runs_dir/name-NNN` with the next free number, or `explicit`.

    `os.mkdir` is atomic, so two processes started at once get two different directories.
    An explicit folder may exist only if it holds no run (it may be empty, or hold unrelated files).
    """
    if explicit is not None:
        path = Path(explicit)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"--run-dir {path}: exists and is not a folder")
        if path.is_dir() and any((path / m).exists() for m in RUN_MARKERS):
            raise ConfigError(f"--run-dir {path}: already holds a run; choose a new folder "
                              f"or continue it with --resume {path}")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise XaiError(f"--run-dir {path}: cannot create ({exc.strerror})") from None
        return path
    return make_numbered_dir(Path(runs_dir), f"{name}-", "run directory")


def make_numbered_dir(parent: Path, prefix: str = "", what: str = "folder") -> Path:
    """parent/<prefix>NNN with the next free number. `os.mkdir` is atomic, so two processes started
    at once never get the same folder."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XaiError(f"{parent}: cannot create the parent of the {what} ({exc.strerror})") from None
    numbers = [int(p.name[len(prefix):]) for p in parent.glob(f"{prefix}*") if p.name[len(prefix):].isdigit()]
    n = max(numbers, default=0) + 1
    while True:
        path = parent / f"{prefix}{n:03d}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
        except OSError as exc:
            raise XaiError(f"{path}: cannot create the {what} ({exc.strerror})") from None


def new_output_dir(run_dir: Path, subfolder: str, out: str | None) -> Path:
    """`--out DIR` (honoured as given: new or empty), else RUN/<subfolder>/NNN with the next free
    number. Never overwrites."""
    if out is None:
        return make_numbered_dir(safe_child(run_dir, subfolder), what=f"{subfolder} folder")
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"--out {path}: exists and is not an empty folder; choose a new one (xai never overwrites)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XaiError(f"--out {path}: cannot create ({exc.strerror})") from None
    return path


def safe_child(run: Path, relative: str | Path) -> Path:
    """A path inside the run directory that does not escape it through a symlink."""
    root = run.resolve()
    target = (run / relative)
    resolved = target.resolve()
    if root != resolved and root not in resolved.parents:
        raise XaiError(f"{target}: points outside the run directory {run}; refusing to write there")
    return target


def check_run_links(run: Path) -> None:
    """Refuse a run directory in which a symlink leads outside it (files we write would escape)."""
    root = run.resolve()
    for entry in [run, *run.iterdir(), *(p for d in run.iterdir() if d.is_dir() and not d.is_symlink()
                                          for p in d.iterdir())]:
        if entry.is_symlink():
            target = entry.resolve()
            if root != target and root not in target.parents:
                raise XaiError(f"{entry}: is a symlink to {target}, outside the run directory {run}; "
                               f"refusing to write through it")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
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


def clean_stale_temporaries(folder: Path) -> None:
    """Remove temporary files left by a save that was killed half way."""
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp"):
            try:
                tmp.unlink()
            except OSError:
                pass


def save_checkpoint(path: Path, state: dict) -> None:
    """Serialise with torch.save into memory, then write atomically."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:
        raise XaiError(f"{path}: could not save the checkpoint ({exc.strerror or exc}); "
                       f"the previous checkpoint is unchanged") from None


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict:
    """Load a checkpoint with `weights_only=True`; anything odd is a one-line XaiError."""
    import pickle

    import torch

    path = Path(path)
    if not path.exists():
        raise XaiError(f"{path}: checkpoint not found")
    if not path.is_file() or path.stat().st_size == 0:
        raise XaiError(f"{path}: checkpoint is corrupt or incomplete (not a non-empty file)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = " ".join(str(exc).split())
        found = re.search(r"unsupported GLOBAL (\S+)|Unsupported global: GLOBAL (\S+)", text, re.IGNORECASE)
        if found:
            name = (found.group(1) or found.group(2)).rstrip(".,")
            raise XaiError(f"{path}: refused to load: the checkpoint asks to run or build the Python object "
                           f"'{name}', which a checkpoint never needs; it was not loaded") from None
        detail = re.search(r"WeightsUnpickler error:\s*(.{0,80}?)(\s+Check|$)", text)
        raise XaiError(f"{path}: checkpoint is corrupt or incomplete "
                       f"({detail.group(1) if detail else text[:120]})") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise XaiError(f"{path}: checkpoint is corrupt or incomplete ({first[:160]})") from None
    if not isinstance(state, dict) or "format_version" not in state:
        raise XaiError(f"{path}: checkpoint is corrupt or incomplete (no format_version; "
                       f"not written by xai)")
    if state["format_version"] > CHECKPOINT_FORMAT:
        raise XaiError(f"{path}: checkpoint format {state['format_version']} is newer than this "
                       f"xai understands ({CHECKPOINT_FORMAT}); upgrade xai")
    return state


def resolve_run(target: str | Path) -> tuple[Path, Path | None]:
    """`RUN` may be a run directory or a checkpoint file inside one: (run_dir, checkpoint or None)."""
    path = Path(target)
    if path.is_file() and path.parent.name == "checkpoints" and is_run(path.parent.parent):
        return path.parent.parent, path
    if is_run(path):
        return path, None
    if not path.exists():
        raise ConfigError(f"{path}: no such run directory")
    raise ConfigError(f"{path}: not a run directory (no config.yaml); expected a folder made by xai train")


def pick_checkpoint(run: Path, which: str | None) -> Path:
    """best | last | a path; best falls back to last when a run has none."""
    if which in (None, "best"):
        best = run / "checkpoints" / "best.pt"
        return best if best.exists() else run / "checkpoints" / "last.pt"
    if which == "last":
        return run / "checkpoints" / "last.pt"
    return Path(which)
