"""The run directory: created without overwriting, its paths, links that must not lead out of it."""

from __future__ import annotations

from pathlib import Path

from xaicli.errors import ConfigError, XaiError


def is_run(path: Path) -> bool:
    return path.is_dir() and (path / "config.yaml").is_file()


def create_run_dir(runs_dir: str | Path, name: str, explicit: str | Path | None = None) -> Path:
    """Make a new run directory: `runs_dir/name-NNN` with the next free number, or `explicit`.

    `os.mkdir` is atomic, so two processes started at once get two different directories. An explicit
    folder must be absent or empty (as `--out` must): xai never writes a run over or among other files.
    """
    if explicit is not None:
        path = check_new_run_dir(explicit)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise XaiError(f"--run-dir {path}: cannot create ({exc.strerror})") from None
        return path
    return make_numbered_dir(Path(runs_dir), f"{name}-", "run directory")


def check_new_run_dir(explicit: str | Path) -> Path:
    """`--run-dir` as a Path, checked before any work starts (check_empty_for_run)."""
    path = Path(explicit)
    check_empty_for_run(path)
    return path


def check_empty_for_run(path: Path) -> None:
    """`--run-dir` must be absent or empty; xai's own leftovers of a run killed before it wrote its
    config (the lock file, temporaries of dead writers) count as empty."""
    from xaicli.runs.files import is_stale_temporary
    from xaicli.runs.lock import LOCK_NAME

    if path.is_symlink() and not path.exists():
        raise ConfigError(f"--run-dir {path}: is a symlink to nothing; choose a new or empty folder")
    if not path.exists():
        return
    if not path.is_dir():
        raise ConfigError(f"--run-dir {path}: exists and is not a folder")
    try:
        entries = sorted(path.iterdir())
    except OSError as exc:
        raise ConfigError(f"--run-dir {path}: cannot be read ({exc.strerror})") from None
    others = [e.name for e in entries if not (e.name == LOCK_NAME or e.name.startswith(".") and e.name.endswith(".tmp")
                                              and is_stale_temporary(e))]
    if is_run(path):
        raise ConfigError(f"--run-dir {path}: already holds a run; choose a new folder "
                          f"or continue it with --resume {path}")
    if others:
        shown = ", ".join(others[:4]) + (f" and {len(others) - 4} more" if len(others) > 4 else "")
        raise ConfigError(f"--run-dir {path}: is not empty (it holds {shown}); xai writes a run only into a "
                          f"new or empty folder, so nothing of yours is overwritten")


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
    path = Path(which)
    if not path.exists():
        raise ConfigError(f"--checkpoint {which}: expected best, last or a checkpoint file; no file {path}")
    return path
