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
SMOKE_GAN = ROOT / "configs" / "smoke_gan.yaml"
CGAN_ARGS = "model.args={g_hidden: [32, 64], d_hidden: [64, 32]}"
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


def cli(*args):
    """Run `xai ARGS` in this process (typer's runner); the result has exit_code and output."""
    from typer.testing import CliRunner

    from xaicli.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def cli_train(folder: Path, name: str, *args) -> Path:
    run = folder / name
    result = cli("train", *args, "--run-dir", run)
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="session")
def gan_runs(tmp_path_factory) -> dict[str, Path]:
    """A GAN trained through the real entry point (a subprocess), a cgan and a tiny classifier (in process)."""
    tmp = tmp_path_factory.mktemp("gan_runs")
    gan = tmp / "gan"
    proc = xai("train", SMOKE_GAN, "--run-dir", gan, check=True)
    assert proc.stdout.strip().splitlines()[-1] == str(gan)
    return {"gan": gan,
            "cgan": cli_train(tmp, "cgan", SMOKE_GAN, "model.name=cgan", CGAN_ARGS),
            "classifier": cli_train(tmp, "clf", SMOKE, "train.epochs=3")}


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


def stop_in_epoch(run, epoch=2, signum=None, extra=(), config=SMOKE, args=ARGS):
    """Start a training run and send it `signum` (SIGTERM by default) once a step of `epoch` is logged;
    the finished process is returned."""
    import signal

    proc = start_training(run, extra, config, args)
    wait_for_step_in_epoch(run, epoch, proc)
    proc.send_signal(signal.SIGTERM if signum is None else signum)
    proc.communicate(timeout=60)
    return proc


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
