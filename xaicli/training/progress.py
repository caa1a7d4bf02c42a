"""Training progress on standard error: a live Rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time

from xaicli.viz import console


def _fmt(values: dict) -> str:
    parts = []
    for k, v in values.items():
        if isinstance(v, float):
            parts.append(f"{k} {v:.4g}")
        else:
            parts.append(f"{k} {v}")
    return "  ".join(parts)


class Progress:
    def __init__(self, epochs: int, steps: int, enabled: bool = True) -> None:
        self.epochs, self.steps = epochs, steps
        self.enabled = enabled and not console.is_quiet()
        self.live = self.enabled and sys.stderr.isatty()
        self._bar = None
        self._task = None
        self.t0 = time.perf_counter()
        self.first_global: int | None = None  # the first step this process ran, for the run's ETA

    def __enter__(self) -> Progress:
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                                     console=Console(stderr=True), transient=True)
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def start_epoch(self, epoch: int, first_step: int) -> None:
        self.epoch = epoch
        if self.first_global is None:
            self.first_global = epoch * self.steps + first_step
            self.t0 = time.perf_counter()
        if self._bar is not None:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(f"epoch {epoch + 1}/{self.epochs}", total=self.steps,
                                            completed=first_step, status="")

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def log_step(self, step: int, values: dict, lr: float, images_per_s: float) -> None:
        if not self.enabled:
            return
        text = f"{_fmt(values)}  lr {lr:.3g}  {images_per_s:,.0f} img/s{self.eta(step)}"
        if self._bar is not None:
            self._bar.update(self._task, status=text)
        else:
            console.info(f"epoch {self.epoch + 1}/{self.epochs} step {step}/{self.steps}  {text}")

    def eta(self, step: int) -> str:
        """'  ETA 3 min 10 s' for the whole run, from this process's pace so far (validation included)."""
        done = self.epoch * self.steps + step
        ran = done - (self.first_global or 0)
        if ran <= 0:
            return ""
        left = (self.epochs * self.steps - done) * (time.perf_counter() - self.t0) / ran
        return f"  ETA {console.duration(left)}"

    def log_epoch(self, row: dict) -> None:
        if not self.enabled:
            return
        shown = {k: v for k, v in row.items() if k not in ("epoch", "lr")}
        line = f"epoch {row['epoch']}/{self.epochs} done  {_fmt(shown)}"
        if self._bar is not None:
            self._bar.console.print(line)
            console.to_log_only(line)  # keep log.txt complete when the bar is live
        else:
            console.info(line)
