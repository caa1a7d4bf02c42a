"""Bad input: generated config documents and overrides, run names, symlinks, concurrent runs,
non-finite losses and out-of-memory errors."""

import json
import subprocess
import sys

import pytest
import torch
import yaml
from conftest import ROOT, SMOKE, xai
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xaicli import config as cfgmod
from xaicli.errors import ConfigError

KEYS = cfgmod.all_keys() + ["model.args.width", "train", "data", "bogus", "train.bogus", "", "a..b"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)
documents = st.dictionaries(st.sampled_from(KEYS + ["name", "seed"]).map(lambda k: k.split(".")[0] or "x"),
                            st.one_of(values, st.dictionaries(st.sampled_from(
                                [k.split(".")[-1] for k in KEYS]), values, max_size=4)), max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents, overrides=st.lists(st.tuples(st.sampled_from(KEYS), st.text(max_size=10)), max_size=3))
def test_any_document_and_overrides_load_or_raise_a_config_error(tmp_path_factory, doc, overrides):
    path = tmp_path_factory.mktemp("h") / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        cfg = cfgmod.load(path, [f"{k}={v}" for k, v in overrides])
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
        return
    again = tmp_path_factory.mktemp("h") / "resolved.yaml"
    again.write_text(cfgmod.dump(cfg))
    assert cfgmod.load(again) == cfg  # a valid config survives dump and reload


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60))
def test_any_text_loads_or_raises_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("t") / "c.yaml"
    path.write_text(text)
    try:
        cfgmod.load(path)
    except ConfigError:
        pass


def test_python_tags_have_no_side_effect(tmp_path):
    sentinel = tmp_path / "pwned"
    p = tmp_path / "evil.yaml"
    p.write_text(f"name: !!python/object/apply:os.system ['touch {sentinel}']\n")
    proc = xai("train", p)
    assert proc.returncode == 2 and "invalid YAML" in proc.stderr
    assert not sentinel.exists()


@pytest.mark.parametrize("name", ["..", "../up", "a/b", "a\\b", "a\x00b", ".hidden", ""])
def test_unsafe_run_names_are_rejected(name):
    with pytest.raises(ConfigError, match="name: expected"):
        cfgmod.from_dict({"name": name})


def test_unsafe_run_name_override_creates_nothing(tmp_path):
    proc = xai("train", SMOKE, "name=../escape", f"train.runs_dir={tmp_path / 'runs'}", cwd=tmp_path)
    assert proc.returncode == 2 and "name: expected" in proc.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "escape-001").exists()


@pytest.mark.e2e
def test_symlink_out_of_the_run_is_refused(smoke_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(run / "eval", ignore_errors=True)
    (run / "eval").symlink_to(outside, target_is_directory=True)
    proc = xai("eval", run)
    assert proc.returncode == 1 and "outside the run directory" in proc.stderr
    assert list(outside.iterdir()) == []


@pytest.mark.e2e
def test_an_explicit_run_dir_through_a_symlink_is_honoured(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    proc = xai("train", SMOKE, "train.epochs=1", "--run-dir", link)
    assert proc.returncode == 0, proc.stderr
    assert (real / "checkpoints" / "last.pt").is_file()


@pytest.mark.e2e
def test_two_trainings_started_at_once_get_two_run_directories(tmp_path):
    args = [sys.executable, "-m", "xaicli", "train", str(SMOKE), "train.epochs=1",
            f"train.runs_dir={tmp_path / 'runs'}"]
    procs = [subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    dirs = sorted(o[0].strip().splitlines()[-1] for o in outs)
    assert dirs[0] != dirs[1]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["latest", "smoke_cnn-001", "smoke_cnn-002"]
    assert (tmp_path / "runs" / "latest").resolve().name in ("smoke_cnn-001", "smoke_cnn-002")  # the newer one


@pytest.mark.e2e
def test_non_finite_loss_stops_with_exit_1_and_no_bad_checkpoint(tmp_path):
    run = tmp_path / "run"
    proc = xai("train", SMOKE, "optim.name=sgd", "optim.lr=1e12", "optim.schedule=none", "--run-dir", run)
    assert proc.returncode == 1
    assert "non-finite loss at epoch 1 step" in proc.stderr and "term: loss" in proc.stderr
    for ckpt in (run / "checkpoints").glob("*.pt") if (run / "checkpoints").exists() else []:
        state = torch.load(ckpt, weights_only=True)
        assert all(torch.isfinite(t).all() for t in state["models"]["model"].values() if t.is_floating_point())
    assert json.loads((run / "meta.json").read_text())["exit_code"] == 1


@pytest.mark.e2e
def test_gradient_clipping_keeps_a_high_learning_rate_finite(tmp_path):
    run = tmp_path / "run"
    proc = xai("train", SMOKE, "optim.name=sgd", "optim.lr=5", "optim.schedule=none", "optim.clip_grad_norm=0.01",
               "--run-dir", run)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.e2e
def test_out_of_memory_names_the_batch_size(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from xaicli.cli import app
    from xaicli.tasks.classifier import ClassifierTask

    def oom(self, x, y):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(ClassifierTask, "train_step", oom)
    result = CliRunner().invoke(app, ["train", str(SMOKE), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "data.batch_size=32" in result.output and "data.batch_size=16" in result.output
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["exit_code"] == 1
