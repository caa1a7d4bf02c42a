"""Crafted checkpoints on --resume: every structural defect and every optimizer, scheduler, scaler or RNG
tensor that does not fit the built run is one line naming the file, before any load_state_dict."""

import copy
import signal

import pytest
import torch
from conftest import SMOKE, xai

from xaicli import config as cfgmod
from xaicli.errors import XaiError
from xaicli.runs.checkpoint import load_checkpoint, save_checkpoint
from xaicli.training.checkpointer import Checkpointer
from xaicli.training.state import TrainState


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A smoke classifier run's task and a real checkpoint of it (one step taken, so the optimizer has state)."""
    from xaicli.training.loop import build_setup

    torch.set_num_threads(1)
    cfg = cfgmod.load(SMOKE, ["train.epochs=1"])
    s = build_setup(cfg)
    xb, yb = next(iter(s.stream.epoch(0, 0)))
    s.task.train_step(xb, yb)
    folder = tmp_path_factory.mktemp("crafted")
    ckpt = Checkpointer(folder / "checkpoints", cfg, s.task, s.device)
    state = TrainState(len(s.stream), *s.task.monitor)
    state.at_step(0, 1)
    return s, ckpt, state, ckpt.payload(state)


def resume_with(built, tmp_path, edit):
    s, ckpt, _, payload = built
    crafted = copy.deepcopy(payload)
    edit(crafted)
    folder = tmp_path / "checkpoints"
    save_checkpoint(folder / "last.pt", crafted)
    (tmp_path / "config.yaml").write_text(cfgmod.dump(ckpt.cfg))  # the run's own config, as training wrote it
    checkpointer = Checkpointer(folder, ckpt.cfg, s.task, s.device)
    before = {k: v.clone() for k, v in s.task.model.state_dict().items()}
    state = TrainState(len(s.stream), *s.task.monitor)
    try:
        checkpointer.resume(state, tmp_path)
    finally:
        after = s.task.model.state_dict()
        untouched = all(torch.equal(before[k], after[k]) for k in before)
    return untouched


def test_the_unedited_checkpoint_resumes(built, tmp_path):
    resume_with(built, tmp_path, lambda p: None)


def _opt_state(p):
    return p["optimizers"]["model"]["state"]


def _every_moment(p, value):
    for entry in _opt_state(p).values():
        entry["exp_avg"] = value.clone()
        entry["exp_avg_sq"] = value.clone()


MISMATCHES = {
    "moments of the wrong shape": lambda p: _every_moment(p, torch.zeros(3)),
    "moments of the wrong dtype": lambda p: [e.update(exp_avg=e["exp_avg"].double()) for e in _opt_state(p).values()],
    "integer moments": lambda p: [e.update(exp_avg_sq=e["exp_avg_sq"].to(torch.int32)) for e in _opt_state(p).values()],
    "a step that is not a scalar": lambda p: [e.update(step=torch.zeros(5)) for e in _opt_state(p).values()],
    "a parameter group too short": lambda p: p["optimizers"]["model"]["param_groups"][0]["params"].pop(),
    "a second parameter group": lambda p: p["optimizers"]["model"]["param_groups"].append(
        copy.deepcopy(p["optimizers"]["model"]["param_groups"][0])),
    "state for a parameter that does not exist": lambda p: _opt_state(p).update({999: _opt_state(p)[0]}),
}


@pytest.mark.parametrize("edit", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_optimizer_state_that_does_not_fit_the_model_is_refused_before_loading(built, tmp_path, edit):
    with pytest.raises(XaiError) as info:
        resume_with(built, tmp_path, edit)
    message = str(info.value)
    assert str(tmp_path / "checkpoints" / "last.pt") in message and "\n" not in message
    assert "optimizers.model" in message


def _set(key, value):
    return lambda p: p.update({key: value})


def _drop(key):
    return lambda p: p.pop(key)


STRUCTURE = {
    "string format_version": _set("format_version", "1"),
    "missing rng": _drop("rng"),
    "rng of the wrong size": lambda p: p["rng"].update(cpu=torch.zeros(7, dtype=torch.uint8)),
    "missing optimizers": _drop("optimizers"),
    "optimizers not a mapping": _set("optimizers", [1, 2]),
    "string epoch": _set("epoch", "1"),
    "negative epoch": _set("epoch", -1),
    "boolean epoch": _set("epoch", True),
    "huge step_in_epoch": _set("step_in_epoch", 10**12),
    "negative step_in_epoch": _set("step_in_epoch", -3),
    "string best": _set("best", "high"),
    "best_epoch zero": _set("best_epoch", 0),
    "unknown scheduler key": lambda p: p["schedulers"]["model"].update(optimizer="x"),
    "scheduler value of another type": lambda p: p["schedulers"]["model"].update(last_epoch="3"),
    "scheduler list of another length": lambda p: p["schedulers"]["model"].update(base_lrs=[0.1, 0.2, 0.3]),
    "missing scheduler": lambda p: p["schedulers"].clear(),
    "a scheduler the run does not have": lambda p: p["schedulers"].update(other={}),
    "config not a mapping": _set("config", "name: x"),
    "learning rate as text": lambda p: p["optimizers"]["model"]["param_groups"][0].update(lr="fast"),
    "betas of another length": lambda p: p["optimizers"]["model"]["param_groups"][0].update(betas=[0.9]),
    "partial sums of another shape": _set("meters", {"keys": ["loss"], "sums": [torch.zeros(3)],
                                                     "window": [torch.zeros(())]}),
}


@pytest.mark.parametrize("edit", STRUCTURE.values(), ids=STRUCTURE.keys())
def test_structurally_crafted_checkpoints_are_corrupt_or_incomplete_with_the_path(built, tmp_path, edit):
    with pytest.raises(XaiError) as info:
        untouched = resume_with(built, tmp_path, edit)
        assert untouched
    message = str(info.value)
    assert str(tmp_path / "checkpoints" / "last.pt") in message and "\n" not in message
    assert "corrupt or incomplete" in message or "checkpoint holds" in message


def test_a_refused_checkpoint_leaves_the_model_untouched(built, tmp_path):
    s = built[0]
    before = {k: v.clone() for k, v in s.task.model.state_dict().items()}

    def edit(p):
        p["models"]["model"] = {k: v + 1 for k, v in p["models"]["model"].items()}
        _every_moment(p, torch.zeros(3))

    with pytest.raises(XaiError):
        resume_with(built, tmp_path, edit)
    assert all(torch.equal(before[k], v) for k, v in s.task.model.state_dict().items())


def test_format_version_must_be_an_integer(tmp_path):
    path = tmp_path / "v.pt"
    for bad in ("1", 1.5, True, None, [1]):
        torch.save({"format_version": bad}, path)
        with pytest.raises(XaiError, match="corrupt or incomplete") as info:
            load_checkpoint(path)
        assert str(path) in str(info.value)


@pytest.mark.e2e
def test_issue_repro_zeroed_optimizer_moments_do_not_crash_the_process(tmp_path):
    """The issue's reproduction: every exp_avg / exp_avg_sq replaced by torch.zeros(3), epoch set to 1.
    Before the check, the fused CPU Adam kernel wrote out of bounds (SIGABRT or SIGSEGV)."""
    run = tmp_path / "run"
    xai("train", SMOKE, "--run-dir", run, check=True)
    path = run / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=True)
    _every_moment(state, torch.zeros(3))
    state["epoch"] = 1
    torch.save(state, path)
    proc = xai("train", "--resume", run)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert proc.returncode not in (-signal.SIGABRT, -signal.SIGSEGV)
    lines = proc.stderr.strip().splitlines()
    assert str(path) in lines[-1] and "exp_avg" in lines[-1] and "shape [3]" in lines[-1]
    assert "Traceback" not in proc.stderr
