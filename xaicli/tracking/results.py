"""What `xai eval` and `xai explain` add to a run's trackers: evaluation scalars and figures, explanation
grids. The same rows and images `xai export` replays, so a live run and an exported one look alike."""

from __future__ import annotations

from pathlib import Path

from xaicli.tracking import Trackers, metric_value, open_tracker, run_loggers
from xaicli.viz import console


def evaluation_row(metrics: dict) -> dict:
    """An evaluation as a row: kind eval at the evaluated checkpoint's epoch, its scalar metrics."""
    row: dict = {"kind": "eval", "epoch": metrics.get("epoch") or 0}
    for key, value in metrics.items():
        if key not in ("epoch", "images") and metric_value(value) is not None and not isinstance(value, str):
            row[key] = value
    return row


def evaluation_images(metrics: dict) -> list[tuple[str, Path, int]]:
    """The figures an evaluation wrote (`*_png` keys: the confusion matrix) as (tag, file, step)."""
    step = metrics.get("epoch") or 0
    return [(f"eval/{key[:-len('_png')]}", Path(value), step) for key, value in metrics.items()
            if key.endswith("_png") and isinstance(value, str)]


def explanation_images(folder: Path) -> list[tuple[str, Path, int]]:
    """The method-by-image grids of one `xai explain` folder (one per section)."""
    step = int(folder.name) if folder.name.isdigit() else 0
    out = []
    for grid in sorted(folder.rglob("grid.png")):
        inner = grid.parent.relative_to(folder).as_posix()
        out.append((f"explain/{folder.name}" + (f"/{inner}" if inner != "." else "") + "/grid", grid, step))
    return out


def attached(run_dir: Path) -> Trackers:
    """The trackers of a run's config, attached to a run that has ended (nothing changes its status)."""
    names = run_loggers(run_dir)
    if not names:
        return Trackers(run_dir)
    from xaicli import config as cfgmod

    cfg = cfgmod.load_run(run_dir)
    opened = []
    for name in names:
        try:
            opened.append(open_tracker(name, cfg, run_dir, attach=True))
        except Exception as exc:
            console.warn(f"{name} logger: could not open for {run_dir} ({type(exc).__name__}: {exc}); "
                         f"the results are in the run directory")
    return Trackers(run_dir, opened)


def log_evaluation(run_dir: Path, metrics: dict) -> None:
    trackers = attached(run_dir)
    if trackers:
        trackers.on_row(evaluation_row(metrics))
        for tag, png, step in evaluation_images(metrics):
            trackers.on_image(tag, png, step)
        trackers.close(0)


def log_explanation(run_dir: Path, folder: Path) -> None:
    trackers = attached(run_dir)
    if trackers:
        for tag, png, step in explanation_images(folder):
            trackers.on_image(tag, png, step)
        trackers.close(0)
