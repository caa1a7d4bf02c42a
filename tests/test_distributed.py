"""DDP on this CPU: torchrun with the gloo backend and 2 processes equals 1 process with the same
global batch, creates exactly one run directory, and only rank 0 writes to the console."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, SMOKE, xai

pytestmark = pytest.mark.e2e  # drives the real CLI: training runs in subprocesses

# No batch norm and no dropout: with those, per-rank statistics and masks legitimately differ.
GAN = ROOT / "configs" / "smoke_gan.yaml"
ARGS = ["model.name=mlp", "model.args={hidden: [64]}", "data.batch_size=32", "data.shift=1", "train.epochs=2",
        "train.log_every=4"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args, cwd, wait=True):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", "-m", "xaicli", *map(str, args)]
    if not wait:  # its own process group, so that a signal reaches every process as scancel sends it
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("config, args, group", [
    (SMOKE, ARGS, "model"),
    (GAN, ["data.batch_size=32", "train.epochs=2", "train.log_every=2"], "gan"),
], ids=["classifier", "mlp_gan"])
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path, config, args, group):
    single = tmp_path / "single"
    xai("train", config, *args, "--run-dir", single, check=True)
    runs = tmp_path / "runs"
    proc = torchrun("train", config, *args, f"train.runs_dir={runs}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    made = [p for p in runs.iterdir() if not p.is_symlink()]  # runs/latest points at the newest run
    assert len(made) == 1  # exactly one run directory
    assert (runs / "latest").resolve() == made[0].resolve()
    assert proc.stdout.strip().splitlines() == [str(made[0])]  # printed once, by rank 0
    ddp = made[0]
    assert proc.stderr.count("epoch 2/2 done") == 1  # rank 0's logs only
    a = torch.load(single / "checkpoints" / "last.pt", weights_only=True)["models"][group]
    b = torch.load(ddp / "checkpoints" / "last.pt", weights_only=True)["models"][group]
    assert not any(k.startswith("module.") for k in b)
    for k in a:  # stated tolerance: float reordering of the gradient average
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)
    assert len((ddp / "metrics.csv").read_text().splitlines()) == 3



def test_wgan_gp_trains_under_ddp(tmp_path):
    """The critic's gradient penalty (a double backward) and n_critic steps work under DDP; exact equality
    with one process is not expected here: the generator's batch norm sees per-process statistics."""
    runs = tmp_path / "runs"
    proc = torchrun("train", GAN, "model.name=wgan_gp", "model.args={n_critic: 2, width: 16}",
                    "data.batch_size=32", "train.epochs=2", f"train.runs_dir={runs}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = [p for p in runs.iterdir() if not p.is_symlink()]  # besides runs/latest
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 2
    assert all(torch.isfinite(t).all() for t in state["models"]["gan"].values() if t.is_floating_point())


def test_a_ddp_run_stopped_by_sigterm_resumes_under_ddp_to_the_one_process_result(tmp_path):
    """SIGTERM to every process (as SLURM's scancel --signal=TERM sends it) in epoch 2: the ranks agree
    on the stop at a log step, rank 0 saves, all exit; torchrun ... --resume finishes the run."""
    import signal
    import time

    from conftest import wait_for_step_in_epoch

    args = [*ARGS, "data.num_train=2048", "train.log_every=1"]
    single = tmp_path / "single"
    xai("train", SMOKE, *args, "--run-dir", single, check=True)
    run = tmp_path / "ddp"
    proc = torchrun("train", SMOKE, *args, "--run-dir", run, cwd=tmp_path, wait=False)
    wait_for_step_in_epoch(run, 2, proc)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert (state["epoch"], state["step_in_epoch"] > 0) == (1, True), err[-2000:]  # stopped inside epoch 2
    assert err.count("received SIGTERM") <= 1 and "checkpoint saved" in err  # rank 0 speaks, once
    time.sleep(0.5)
    resumed = torchrun("train", "--resume", run, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = torch.load(single / "checkpoints" / "last.pt", weights_only=True)["models"]["model"]
    b = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["models"]["model"]
    for k in a:  # the same tolerance as the uninterrupted comparison above
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)
