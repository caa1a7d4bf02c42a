"""Shared helpers: drive the real CLI in a subprocess, make tiny runs on synthetic data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "smoke_cnn.yaml"
# Long enough epochs (128 steps) to land a signal inside epoch 2; dropout and shifts use randomness.
ARGS = ["data.num_train=2048", "data.batch_size=16", "data.shift=1", "train.epochs=3", "train.log_every=1"]


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


def start_training(run, extra=(), config=SMOKE, args=ARGS):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    return subprocess.Popen([sys.executable, "-m", "xaicli", "train", str(config), *args, *extra,
                             "--run-dir", str(run)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step_in_epoch(run, epoch, proc, timeout=120):
    """Poll metrics.jsonl until a step row of `epoch` appears."""
    deadline = time.time() + timeout
    path = run / "metrics.jsonl"
    while time.time() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if row.get("kind") == "step" and row.get("epoch") == epoch:
                    return
        if proc.poll() is not None:
            raise AssertionError(f"training ended before epoch {epoch}: {proc.stderr.read()}")
        time.sleep(0.005)
    raise AssertionError("timed out waiting for epoch 2")
