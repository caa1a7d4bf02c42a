"""Exact resume after SIGKILL, preemption by signals, and a negative control that skips the RNG state."""

import json
import shutil
import signal

import pytest
import torch
from conftest import ARGS, SMOKE, start_training, wait_for_step_in_epoch, xai

pytestmark = pytest.mark.e2e  # drives the real CLI: training runs in subprocesses


def final_state(run):
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)


def assert_same_training_state(a, b):
    for group in ("models", "optimizers"):
        flat_a, flat_b = _flatten(a[group]), _flatten(b[group])
        assert flat_a.keys() == flat_b.keys()
        for k in flat_a:
            if torch.is_tensor(flat_a[k]):
                assert torch.equal(flat_a[k], flat_b[k]), f"{group}.{k} differs"
            else:
                assert flat_a[k] == flat_b[k], f"{group}.{k} differs"
    assert a["epoch"] == b["epoch"] and a["global_step"] == b["global_step"]


def _flatten(obj, prefix=""):
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}{i}."))
    else:
        out[prefix] = obj
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("ref") / "run"
    xai("train", SMOKE, *ARGS, "--run-dir", run, check=True)
    return final_state(run)


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """A run killed with SIGKILL during epoch 2: only the end-of-epoch-1 checkpoint exists."""
    run = tmp_path_factory.mktemp("killed") / "run"
    proc = start_training(run)
    wait_for_step_in_epoch(run, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert final_state(run)["epoch"] == 1
    return run


def test_resume_after_sigkill_is_bit_identical(reference, killed_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(killed_run, run)
    proc = xai("train", "--resume", run)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(run)
    assert_same_training_state(final_state(run), reference)
    log = (run / "log.txt").read_text()
    assert "resuming at epoch 2" in log and log.count("epoch 1/3 done") == 1  # appended, not rewritten
    meta = json.loads((run / "meta.json").read_text())
    assert meta["exit_code"] == 0 and len(meta["previous_attempts"]) == 1


def test_negative_control_resume_without_rng_state_differs(reference, killed_run, tmp_path, monkeypatch):
    from xaicli import config as cfgmod
    from xaicli.training import checkpointer as ckpt_mod
    from xaicli.training import loop as train_mod

    run = tmp_path / "run"
    shutil.copytree(killed_run, run)
    monkeypatch.setattr(ckpt_mod, "set_rng_state", lambda state, device: None)
    torch.set_num_threads(1)
    train_mod.train(cfgmod.load(run / "config.yaml"), resume=str(run))
    state = final_state(run)
    assert state["epoch"] == reference["epoch"]
    weights, ref = state["models"]["model"], reference["models"]["model"]
    assert any(not torch.equal(weights[k], ref[k]) for k in ref)


def test_resuming_a_finished_run_does_nothing(tmp_path):
    run = tmp_path / "run"
    xai("train", SMOKE, "train.epochs=1", "--run-dir", run, check=True)
    before = (run / "checkpoints" / "last.pt").read_bytes()
    proc = xai("train", "--resume", run)
    assert proc.returncode == 0 and "already finished" in proc.stderr
    assert (run / "checkpoints" / "last.pt").read_bytes() == before


def test_resume_from_a_stop_after_the_last_step_of_an_epoch_finishes_that_epoch(tmp_path):
    """A signal on an epoch's last step saves (epoch, steps_per_epoch): the resumed epoch has no step left."""
    run = tmp_path / "run"
    xai("train", SMOKE, "--run-dir", run, check=True)
    path = run / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=True)
    steps = state["global_step"] // 2
    state.update(epoch=1, step_in_epoch=steps)
    torch.save(state, path)
    proc = xai("train", "--resume", run)
    assert proc.returncode == 0, proc.stderr
    assert "epoch 2/2 done" in proc.stderr
    resumed = torch.load(path, weights_only=True)
    assert (resumed["epoch"], resumed["step_in_epoch"]) == (2, 0)


def test_resume_refuses_a_changed_config_but_allows_the_whitelist(killed_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(killed_run, run)
    before = (run / "checkpoints" / "last.pt").read_bytes()
    proc = xai("train", "--resume", run, "optim.lr=0.5", "train.epochs=9")
    assert proc.returncode == 2
    assert "optim.lr" in proc.stderr and "train.epochs" in proc.stderr and "Traceback" not in proc.stderr
    assert (run / "checkpoints" / "last.pt").read_bytes() == before
    ok = xai("train", "--resume", run, "train.log_every=64", "train.device=cpu")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGUSR1, 143)])
def test_signal_saves_mid_epoch_and_resume_is_exact(reference, tmp_path, signum, code):
    run = tmp_path / "run"
    proc = start_training(run)
    wait_for_step_in_epoch(run, 2, proc)
    proc.send_signal(signum)
    proc.send_signal(signum)  # a second signal while saving must not corrupt the checkpoint
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "--resume" in err and "Traceback" not in err
    state = final_state(run)
    assert state["epoch"] == 1 and state["step_in_epoch"] > 0  # saved inside epoch 2
    meta = json.loads((run / "meta.json").read_text())
    assert meta["exit_code"] == code
    # the best validation score so far travels in every checkpoint and in meta.json, even when stopped
    first = epoch_rows(run)[0]
    assert state["best"] == pytest.approx(first["val_acc"]) and state["best_epoch"] == 1
    assert meta["best"] == pytest.approx(first["val_acc"]) and meta["best_epoch"] == 1
    resumed = xai("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    final = final_state(run)
    assert_same_training_state(final, reference)
    accs = [r["val_acc"] for r in epoch_rows(run)]
    best_epoch = max(range(len(accs)), key=lambda i: (accs[i], -i)) + 1  # the first epoch reaching the max
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    for ckpt in (final, best):
        assert ckpt["best"] == pytest.approx(max(accs)) and ckpt["best_epoch"] == best_epoch
    assert best["epoch"] == best_epoch


def epoch_rows(run):
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "epoch"]


def test_signal_handlers_are_restored_after_training_and_untouched_by_default(tmp_path, monkeypatch):
    import xaicli
    from xaicli.training import signals

    def mine(signum, frame):
        pass

    installed = []
    real = signals.signal.signal
    monkeypatch.setattr(signals.signal, "signal", lambda s, h: installed.append(s) or real(s, h))
    old = real(signal.SIGTERM, mine)
    try:
        torch.set_num_threads(1)
        xaicli.train(SMOKE, ["train.epochs=1"], run_dir=tmp_path / "plain")
        assert installed == []  # the Python API leaves process-wide handlers alone unless asked
        xaicli.train(SMOKE, ["train.epochs=1"], run_dir=tmp_path / "handled", handle_signals=True)
        assert set(installed) >= {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1}
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        real(signal.SIGTERM, old)


GAN = SMOKE.parent / "smoke_gan.yaml"
GAN_ARGS = ["data.num_train=4096", "data.batch_size=16", "train.epochs=3", "train.log_every=1"]


def test_gan_resume_after_sigkill_is_bit_identical_and_needs_the_rng_state(tmp_path, monkeypatch):
    from xaicli import config as cfgmod
    from xaicli.training import checkpointer as ckpt_mod
    from xaicli.training import loop as train_mod

    ref = tmp_path / "ref"
    xai("train", GAN, *GAN_ARGS, "--run-dir", ref, check=True)
    run = tmp_path / "run"
    proc = start_training(run, config=GAN, args=GAN_ARGS)
    wait_for_step_in_epoch(run, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert final_state(run)["epoch"] == 1
    control = tmp_path / "control"
    shutil.copytree(run, control)
    resumed = xai("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_training_state(final_state(run), final_state(ref))
    # negative control: the same resume without restoring the RNG state draws other noise
    monkeypatch.setattr(ckpt_mod, "set_rng_state", lambda state, device: None)
    torch.set_num_threads(1)
    train_mod.train(cfgmod.load(control / "config.yaml"), resume=str(control))
    a, b = final_state(control)["models"]["gan"], final_state(ref)["models"]["gan"]
    assert any(not torch.equal(a[k], b[k]) for k in b)
