"""Stop signals: SIGINT, SIGTERM and SIGUSR1 finish the current step, save a checkpoint and exit 130 / 143.

The handlers are process-wide, so the command line installs them (`signal_handlers`); a Python caller
of `train` may pass its own StopFlag and set it from anywhere.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGUSR1: 143}


class StopFlag:
    """Set by a signal (or by a caller); the loop finishes the current step, saves and stops."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum, frame=None) -> None:
        if self.signum is None:
            from xaicli.viz import console

            self.signum = signum
            console.info(f"received {signal.Signals(signum).name}: saving a checkpoint after this step")


@contextmanager
def signal_handlers(flag: StopFlag) -> Iterator[StopFlag]:
    """Route the stop signals to `flag` for the block and restore the previous handlers after."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.getsignal(s) for s in SIGNAL_EXIT}
    for s in SIGNAL_EXIT:
        signal.signal(s, flag)
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def stop_signal(flag: StopFlag, dist, sync_point: bool) -> int:
    """The signal to stop for, or 0. Under DDP the ranks agree on it at log steps only, so that
    they all save-and-stop after the same step without a collective call inside every step."""
    if dist is None:
        return flag.signum or 0
    if not sync_point:
        return 0
    return dist.max_int(flag.signum or 0)


def stop_message(signum: int) -> str:
    return signal.Signals(signum).name
