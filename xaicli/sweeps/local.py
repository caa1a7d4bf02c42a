"""Run a sweep's points on this machine: one `xai train` process per slot, a slot per GPU (each process
sees one card through CUDA_VISIBLE_DEVICES) or per CPU share (--max-parallel, threads split evenly).

A stop signal (Ctrl-C, SIGTERM) starts no new point and is passed on to the running ones, which save a
checkpoint and exit 130 / 143; the next `xai sweep` with the same command resumes them. On Linux each
child also gets SIGTERM if the sweep itself dies (even by SIGKILL), so no orphan keeps training.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from xaicli.sweeps.grid import Point
from xaicli.viz import console

POLL_S = 0.2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Launch:
    point: Point
    command: list[str]  # the xai arguments: train CONFIG ... --run-dir DIR, or train --resume DIR


@dataclass
class Outcome:
    point: Point
    exit_code: int
    seconds: float


def slots(gpus: list[str] | None, max_parallel: int | None) -> list[dict[str, str]]:
    """The environment of each slot: CUDA_VISIBLE_DEVICES per GPU (round-robin when --max-parallel asks
    for more processes than cards), else an even share of the CPU's threads."""
    if gpus:
        count = max_parallel or len(gpus)
        return [{"CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)]} for i in range(count)]
    count = max(1, max_parallel or 1)
    threads = max(1, (os.cpu_count() or 1) // count)
    return [{"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(threads))} for _ in range(count)]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class LocalRunner:
    def __init__(self, sweep_dir: Path, slot_envs: list[dict[str, str]], on_start, on_end) -> None:
        self.sweep_dir, self.slot_envs = sweep_dir, slot_envs
        self.on_start, self.on_end = on_start, on_end  # callbacks(point, ...) that keep sweep.json current
        self.stop_signal: int | None = None
        self.running: dict[int, tuple[subprocess.Popen, Launch, float]] = {}

    def _start(self, slot: int, launch: Launch) -> None:
        log_dir = self.sweep_dir / "logs"
        log_dir.mkdir(exist_ok=True)
        env = {**os.environ, **self.slot_envs[slot], "PYTHONUNBUFFERED": "1"}
        with open(log_dir / f"{launch.point.name}.log", "a", encoding="utf-8") as log:
            log.write(f"$ xai {' '.join(launch.command)}\n")
            log.flush()
            proc = subprocess.Popen([sys.executable, "-m", "xaicli", *launch.command], stdout=log,
                                    stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
                                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        self.running[slot] = (proc, launch, time.time())
        self.on_start(launch.point, slot)

    def _forward(self, signum, frame=None) -> None:
        if self.stop_signal is None:
            console.info(f"received {signal.Signals(signum).name}: no new points; the running ones save and stop")
        self.stop_signal = self.stop_signal or signum
        for proc, _, _ in self.running.values():
            try:
                proc.send_signal(signum)
            except OSError:
                pass

    def _reap(self) -> list[Outcome]:
        done = []
        for slot, (proc, launch, started) in list(self.running.items()):
            code = proc.poll()
            if code is not None:
                del self.running[slot]
                outcome = Outcome(launch.point, code, time.time() - started)
                self.on_end(outcome)
                done.append(outcome)
        return done

    def run(self, launches: list[Launch]) -> tuple[list[Outcome], int | None]:
        """Run every launch, `len(slots)` at a time; returns the outcomes and the stop signal, if any."""
        queue = list(launches)
        outcomes: list[Outcome] = []
        previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
        for s in STOP_SIGNALS:
            signal.signal(s, self._forward)
        try:
            while queue or self.running:
                free = [i for i in range(len(self.slot_envs)) if i not in self.running]
                while queue and free and self.stop_signal is None:
                    self._start(free.pop(0), queue.pop(0))
                if self.stop_signal is not None:
                    queue.clear()
                time.sleep(POLL_S)
                outcomes += self._reap()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return outcomes, self.stop_signal
