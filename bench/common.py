"""Shared bits of the benchmarks: device choice, timing, one JSON line per figure."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def device_and_name(arg: str | None = None):

    from xaicli.runs.meta import device_name
    from xaicli.training.device import resolve_device

    device = resolve_device(arg or "auto")
    return device, device_name(device)


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeats: int = 3) -> float:
    """Best wall time of `repeats` calls of fn() (after the caller's warm-up), synchronised."""
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)
