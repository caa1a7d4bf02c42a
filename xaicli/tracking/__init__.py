"""Trackers: optional, offline mirrors of a run directory in TensorBoard and MLflow.

The run directory stays the source of truth. A tracker is a listener of the run's MetricsWriter: it gets
each row exactly as it was written to metrics.jsonl (already on the host, so no tracker adds a device
sync to the step), the images written at the end of an epoch (a GAN's sample grid), and later the
evaluation and explanation figures. A tracker that fails, or whose package is missing, is one warning
and is dropped: the run goes on. `xai export RUN --to tensorboard|mlflow` replays a run later through
the same code (xaicli/tracking/export.py).

Names in both tools: `step/<metric>` at the global step, `epoch/<metric>` at the epoch, `eval/<metric>`
at the evaluated checkpoint's epoch; images `samples` (per epoch), `eval/confusion_matrix`,
`explain/<NNN>/grid`.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Iterable, Protocol

from xaicli.viz import console

MODULES = {"tensorboard": "xaicli.tracking.tensorboard", "mlflow": "xaicli.tracking.mlflow"}
PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}  # the extra, and the module it brings
AXIS_KEYS = {"step": "step", "epoch": "epoch"}  # a row kind -> the key that is its x axis
NOT_METRICS = ("kind", "epoch", "step")
EPOCH_IMAGES = (("samples", "samples/epoch_{epoch:03d}.png"),)  # (tag, file) written at an epoch's end


class Tracker(Protocol):
    name: str

    def on_row(self, record: dict) -> None: ...

    def on_image(self, tag: str, png: Path, step: int) -> None: ...

    def close(self, status: str) -> None: ...


def metric_value(value: object) -> float | None:
    """A row's value as the trackers log it: numbers as they are, the strings metrics.jsonl writes for
    non-finite floats ('nan', 'inf') back as floats, anything else (text, lists) skipped."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    return None


def scalars(record: dict) -> tuple[int, list[tuple[str, float]]]:
    """(x, [(tag, value)]) of one metrics.jsonl row: step rows at the global step, epoch rows at the
    epoch, other kinds (eval) at their epoch."""
    kind = str(record.get("kind", "row"))
    axis = record.get(AXIS_KEYS.get(kind, "epoch"))
    x = int(axis) if isinstance(axis, (int, float)) and not isinstance(axis, bool) and math.isfinite(axis) else 0
    values = []
    for key, value in record.items():
        number = metric_value(value)
        if key not in NOT_METRICS and number is not None:
            values.append((f"{kind}/{key}", number))
    return x, values


def by_tag(rows: Iterable[dict]) -> dict[str, list[tuple[int, float]]]:
    """What trackers log for these rows: {tag: [(x, value), ...]} in row order (read_scalars' shape)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        x, values = scalars(row)
        for tag, value in values:
            out.setdefault(tag, []).append((x, value))
    return out


class Trackers:
    """The trackers of one run, each call guarded: the first failure of a tracker is a warning, after
    which that tracker is dropped and the others go on."""

    def __init__(self, run_dir: Path, trackers: Iterable[Tracker] = ()) -> None:
        self.run_dir, self.trackers = run_dir, list(trackers)

    def __bool__(self) -> bool:
        return bool(self.trackers)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.trackers]

    def _each(self, call: str, *args) -> None:
        for tracker in list(self.trackers):
            try:
                getattr(tracker, call)(*args)
            except Exception as exc:  # a mirror must never cost the run
                self.trackers.remove(tracker)
                console.warn(f"{tracker.name} logger failed ({type(exc).__name__}: {exc}); the run goes on "
                             f"without it (the run directory has everything: xai export {self.run_dir} "
                             f"--to {tracker.name} replays it later)")

    def on_row(self, record: dict) -> None:
        """A MetricsWriter listener: the row just written to metrics.jsonl."""
        self._each("on_row", record)

    def on_epoch_end(self, epoch: int) -> None:
        """The images an epoch wrote (a GAN's fixed-noise grid), once they exist."""
        for tag, pattern in EPOCH_IMAGES:
            png = self.run_dir / pattern.format(epoch=epoch)
            if png.is_file():
                self._each("on_image", tag, png, epoch)

    def on_image(self, tag: str, png: Path, step: int) -> None:
        if png.is_file():
            self._each("on_image", tag, png, step)

    def close(self, exit_code: int) -> None:
        status = "finished" if exit_code == 0 else "interrupted" if exit_code in (130, 143) else "failed"
        self._each("close", status)
        self.trackers = []


def open_tracker(name: str, cfg, run_dir: Path, **options) -> Tracker:
    """One tracker by name; ImportError when its package is not installed."""
    return importlib.import_module(MODULES[name]).open_tracker(cfg, run_dir, **options)


def open_trackers(cfg, run_dir: Path, names: Iterable[str] | None = None) -> Trackers:
    """The trackers `train.loggers` asks for; one that cannot start is a warning, not an error."""
    opened = []
    for name in (cfg.train.loggers if names is None else names):
        try:
            opened.append(open_tracker(name, cfg, run_dir))
        except ImportError as exc:
            console.warn(f"train.loggers: {name} is not installed ({exc}); install it with pip install "
                         f"'xai[{PACKAGES[name]}]'; the run goes on without it")
        except Exception as exc:
            console.warn(f"train.loggers: {name} could not start ({type(exc).__name__}: {exc}); the run goes "
                         f"on without it")
    if opened:
        console.info(f"logging to {', '.join(t.name + ' ' + where(t) for t in opened)}")
    return Trackers(run_dir, opened)


def where(tracker: Tracker) -> str:
    return f"({getattr(tracker, 'location', '')})" if getattr(tracker, "location", "") else ""


def run_loggers(run_dir: Path) -> list[str]:
    """The loggers a run's config asks for, read without validating the whole config."""
    from xaicli.runs.listing import read_config

    train = read_config(run_dir / "config.yaml").get("train") or {}
    loggers = train.get("loggers") if isinstance(train, dict) else None
    return [n for n in loggers if n in MODULES] if isinstance(loggers, list) else []
