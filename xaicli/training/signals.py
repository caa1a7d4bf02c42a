"""Stop signals: SIGINT, SIGTERM and SIGUSR1 finish the current step, save a checkpoint and exit 130 / 143.

The handlers are process-wide, so the command line installs them (`signal_handlers`); a Python caller
of `train` may pass its own StopFlag and set it from anywhere.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGUSR1: 143}
FAILED = 256  # a stop code that is no signal: a write the run needs failed (StopFlag.failure); exit 1


class StopFlag:
    """Set by a signal (or by a caller); the loop finishes the current step, saves and stops. A failed
    write of the log, metrics, plots, samples or standard error stops the run the same way (`fail`), so
    a full disk or a closed pipe ends in a saved checkpoint rather than a lost run."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.failure: str | None = None  # the first failed write, as its one-line error

    def fail(self, message: str) -> None:
        if self.failure is None:
            self.failure = message

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
    """The signal to stop for, FAILED after a failed write, or 0. Under DDP the ranks agree on it at
    log steps only, so that they all save-and-stop after the same step without a collective call
    inside every step."""
    from xaicli.viz import console

    if console.first_failure():
        flag.fail(console.first_failure() or "")
    code = FAILED if flag.failure else flag.signum or 0
    if dist is None:
        return code
    if not sync_point:
        return 0
    return dist.max_int(code)


def stop_message(signum: int) -> str:
    return signal.Signals(signum).name


def stop_error(flag: StopFlag, code: int, where: str, path, saved: bool = True) -> Exception:
    """What a stop ends with: Interrupted (exit 130 / 143) for a signal, an XaiError (exit 1) naming the
    failed write; both say where the run stopped and how to continue it."""
    from xaicli.errors import Interrupted, XaiError

    cont = f"{'checkpoint saved; ' if saved else ''}continue with xai train --resume {path}"
    if code == FAILED:
        reason = flag.failure or "rank 0 could not write the run's files"
        return XaiError(f"{reason}; stopped {where}; {cont}")
    return Interrupted(f"stopped by {stop_message(code)} {where}; {cont}", SIGNAL_EXIT[code])


def write_failure(exc: OSError) -> str:
    return f"could not write {exc.filename or 'a file of the run'} ({exc.strerror or exc})"


def side_write(flag: StopFlag, write, *args, **kwargs) -> None:
    """A write the run needs but not before its next checkpoint (metrics, plots, sample grids): a failure
    (disk full, a symlink out of the run) stops the run with a saved checkpoint instead of losing it."""
    from xaicli.errors import XaiError

    try:
        write(*args, **kwargs)
    except OSError as exc:
        flag.fail(write_failure(exc))
    except XaiError as exc:
        flag.fail(str(exc))
