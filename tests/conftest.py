"""Shared helpers: drive the real CLI in a subprocess, make tiny runs on synthetic data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "smoke_cnn.yaml"


def xai(*args: str, cwd: Path | None = None, timeout: float = 300, env: dict | None = None,
        check: bool = False) -> subprocess.CompletedProcess:
    """Run `python -m xaicli ARGS` and capture its output."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("WORLD_SIZE", None)
    proc = subprocess.run([sys.executable, "-m", "xaicli", *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"xai {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """One trained classifier run on synthetic data, shared by read-only tests."""
    run = tmp_path_factory.mktemp("runs") / "smoke"
    proc = xai("train", SMOKE, "--run-dir", run, check=True)
    assert proc.stdout.strip().splitlines()[-1] == str(run)
    return run
