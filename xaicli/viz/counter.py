"""A progress counter for long one-off work (decoding a dataset, checking one): a live Rich bar on a
terminal, otherwise a plain line on standard error about every ten seconds and at the end."""

from __future__ import annotations

import sys
import time

from xaicli.viz import console


class Counter:
    def __init__(self, total: int, what: str, every_s: float = 10.0) -> None:
        self.total, self.what, self.every_s = total, what, every_s
        self.done = 0
        self.enabled = not console.is_quiet() and total > 0
        self.live = self.enabled and sys.stderr.isatty()
        self._bar = None
        self._task = None

    def __enter__(self) -> Counter:
        self.t0 = self.last = time.perf_counter()
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.what, total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.advance(self._task, n)
        elif self.enabled and time.perf_counter() - self.last >= self.every_s:
            self.last = time.perf_counter()
            console.info(f"{self.what}: {self.done:,}/{self.total:,}")

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        if self.enabled and exc[0] is None:
            seconds = time.perf_counter() - self.t0
            console.info(f"{self.what}: {self.done:,} files in {seconds:.1f} s "
                         f"({self.done / max(seconds, 1e-9):,.0f}/s)")
