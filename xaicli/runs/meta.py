"""meta.json: what ran, where, with which versions, on which data, and how it ended."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

from xaicli.runs.files import write_json
from xaicli.version import __version__


def git_commit() -> str | None:
    """The commit of the xai source tree, when it is a git checkout."""
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=3)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict:
    import torch

    v = {"xai": __version__, "python": platform.python_version(), "torch": torch.__version__,
         "cuda": torch.version.cuda}
    try:
        import torchvision

        v["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    return v


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def start_meta(run_dir: Path, seed: int, device, provenance: dict, extra: dict | None = None) -> dict:
    meta_path = run_dir / "meta.json"
    previous = json.loads(meta_path.read_text()) if meta_path.exists() else None
    meta = {
        "command": sys.argv[:],
        "versions": versions(),
        "device": str(device),
        "device_name": device_name(device),
        "git_commit": git_commit(),
        "seed": seed,
        "data": provenance,
        "start_time": now(),
        "end_time": None,
        "exit_code": None,
        "pid": os.getpid(),  # with host: who holds a run whose exit_code is still null (xaicli/runs/status.py)
        "host": socket.gethostname(),
        **(extra or {}),
    }
    if previous is not None:  # a resume: keep the history of earlier attempts
        meta["previous_attempts"] = previous.pop("previous_attempts", []) + [previous]
    write_json(meta_path, meta)
    return meta


def finish_meta(run_dir: Path, meta: dict, exit_code: int, **extra) -> None:
    meta.update(end_time=now(), exit_code=exit_code, **extra)
    write_json(run_dir / "meta.json", meta)
