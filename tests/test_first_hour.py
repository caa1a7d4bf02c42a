"""A new user's first hour: refusals before any data loads, errors that say what to type, the run's own
data for later commands, summaries, an ETA, extending a run, help that teaches."""

import json
import shutil

import pytest
import torch
import yaml
from conftest import ROOT, SMOKE, cli, xai
from test_data import write_mnist_idx

from xaicli import config as cfgmod
from xaicli.errors import ConfigError

TINY = ["data.num_train=256", "data.num_test=64", "data.batch_size=64", "train.epochs=1",
        "model.args={width: 8, hidden: 16}", "train.log_every=1"]


@pytest.fixture
def no_data(monkeypatch):
    """Loading any dataset fails the test: a refusal must come before it."""
    from xaicli.data import registry

    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the request was refused")

    monkeypatch.setattr(registry, "load_dataset", refuse)


def fake_run(tmp_path, overrides=(), classes=10) -> str:
    """A run folder with only what a refusal may read: config.yaml and meta.json (no checkpoint, no data)."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(cfgmod.dump(cfgmod.load(SMOKE, list(overrides))))
    (run / "meta.json").write_text(json.dumps({"data": {"dataset": "synthetic", "source": "generated",
                                                        "classes": [str(i) for i in range(classes)]}}))
    return str(run)


@pytest.mark.parametrize("args, text", [
    (["train", SMOKE, "model.name=fast_cn"], "did you mean 'fast_cnn'"),
    (["train", SMOKE, "model.args.widht=3"], "did you mean 'width'"),
    (["train", SMOKE, "data.name=mnsit"], "did you mean 'mnist'"),
])
def test_training_requests_are_refused_before_data_loads(no_data, args, text):
    result = cli(*args)
    assert result.exit_code == 2 and text in result.output


def test_a_run_dir_holding_a_run_is_refused_before_data_loads(no_data, tmp_path):
    run = fake_run(tmp_path)
    result = cli("train", SMOKE, "--run-dir", run)
    assert result.exit_code == 2 and "already holds a run" in result.output


@pytest.mark.parametrize("args, text", [
    (["--method", "salency"], "did you mean 'saliency'"),
    (["--target", "abc"], "expected pred, label or a class index"),
    (["--target", "\u00b2"], "expected pred, label or a class index"),  # a digit to str.isdigit, not to int()
    (["--target", "10"], "classes 0..9"),
    (["--split", "validation"], "validation"),
])
def test_explain_requests_are_refused_before_data_loads(no_data, tmp_path, args, text):
    result = cli("explain", fake_run(tmp_path), *args)
    assert result.exit_code == 2 and text in result.output, result.output
    assert not (tmp_path / "run" / "explain").exists()


def test_a_classifier_option_naming_a_gan_run_or_on_a_classifier_run_is_refused(no_data, tmp_path):
    gan = fake_run(tmp_path / "g", ["model.name=mlp_gan"])
    clf = fake_run(tmp_path / "c")
    refused = cli("explain", gan, "--classifier", gan)
    assert refused.exit_code == 2 and "expected a classifier run" in refused.output
    refused = cli("eval", gan, "--classifier", gan)
    assert refused.exit_code == 2 and "expected a classifier run" in refused.output
    refused = cli("eval", clf, "--classifier", clf)
    assert refused.exit_code == 2 and "applies to GAN runs" in refused.output


def test_checkpoint_choices_are_named(no_data, tmp_path):
    result = cli("eval", fake_run(tmp_path), "--checkpoint", "best2")
    assert result.exit_code == 2 and "expected best, last or a checkpoint file" in result.output


def test_a_bad_value_is_blamed_on_where_it_came_from(tmp_path):
    with pytest.raises(ConfigError, match=r"^override 'train.epochs=abc': train.epochs: expected an integer"):
        cfgmod.load(SMOKE, ["train.epochs=abc"])
    with pytest.raises(ConfigError, match=r"^override 'name=a/b': name:"):
        cfgmod.load(SMOKE, ["name=a/b"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: abc\n")
    with pytest.raises(ConfigError, match=rf"^{bad}: train.epochs"):
        cfgmod.load(bad)


@pytest.mark.parametrize("option, hint", [("--epochs", "train.epochs=3"), ("--lr", "optim.lr=3"),
                                          ("--batch-size", "data.batch_size=3")])
def test_an_option_that_is_a_config_key_says_how_to_write_it(option, hint):
    result = cli("train", SMOKE, option, "3")
    assert result.exit_code == 2 and hint in result.output.replace("\n", "").replace("│", "").replace("  ", " ")


def test_version_and_help_teach(monkeypatch):
    assert cli("--version").output.strip().startswith("xai ")
    for command in ("train", "eval", "sample", "explain", "config", "list"):
        text = cli(command, "--help").output
        assert "Examples" in text, command
        assert "<str>" not in text and "list[str]" not in text and "<int>" not in text, command
    explain = cli("explain", "--help").output
    for name in ("saliency", "integrated_gradients", "gradcam", "smoothgrad:NAME", "captum:NAME"):
        assert name in explain
    assert "train|val|test" in explain and "pred|label|K" in explain


def test_config_explain_lists_every_key_with_its_default_and_meaning():
    text = cli("config", "--explain").output
    lines = {line.split(" = ")[0]: line for line in text.splitlines()}
    assert set(lines) == set(cfgmod.all_keys())
    assert "data.val_split = 0.1    [number in [0, 0.5]]" in lines["data.val_split"]
    assert "auto | local | download | embedded" in lines["data.source"]
    with_config = cli("config", "--explain", str(SMOKE), "train.epochs=7").output
    assert "train.epochs = 7" in with_config


def test_fashion_mnist_without_files_says_data_root_can_point_at_an_idx_folder(tmp_path, monkeypatch):
    from xaicli.data import download, mnist_family
    from xaicli.errors import XaiError

    def offline(name, root):
        raise XaiError(f"{name} download to {root} failed (no network)")

    monkeypatch.setattr(download, "download_torchvision", offline)
    with pytest.raises(XaiError, match="set data.root to a folder with the four IDX files"):
        mnist_family.fashion_mnist(root=str(tmp_path), source="auto")


def test_fid_verdict_places_the_result_between_floor_and_ceiling():
    from xaicli.evaluation.gan import fid_verdict

    assert "25% of the way from the floor to the ceiling" in fid_verdict(35.0, 10.0, 110.0)
    assert "at the floor" in fid_verdict(5.0, 10.0, 110.0)
    assert "no better than an untrained generator" in fid_verdict(200.0, 10.0, 110.0)


def test_eta_counts_the_whole_run_from_this_process_pace(monkeypatch):
    from xaicli.training import progress as progress_mod

    clock = iter([100.0, 100.0, 110.0])
    monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: next(clock))
    p = progress_mod.Progress(epochs=3, steps=10, enabled=False)
    p.start_epoch(1, 0)  # resumed at epoch 2: 20 steps left when it starts
    assert p.eta(5) == "  ETA 30 s"  # 5 steps in 10 s, 15 steps to go


def test_restarting_schedules_brings_the_learning_rate_back_and_anneals_over_the_added_steps():
    from xaicli.data.registry import load_run_data
    from xaicli.tasks import build_task

    cfg = cfgmod.load(SMOKE, ["optim.schedule=onecycle", "optim.lr=0.01"])
    task = build_task(cfg, load_run_data(cfg), torch.device("cpu"), total_steps=4)
    for _ in range(3):  # the learning rate of the run's last step
        task.optimizers["model"].step()
        task.schedulers["model"].step()
    assert task.lr() < 1e-4
    task.restart_schedules(10)
    lrs = [task.lr()]
    for _ in range(9):
        task.optimizers["model"].step()
        task.schedulers["model"].step()
        lrs.append(task.lr())
    assert max(lrs) == pytest.approx(0.01, rel=1e-3) and lrs[-1] < 1e-4


# ---- end to end ------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_later_commands_use_the_recorded_data_and_refuse_when_it_is_gone(tmp_path, monkeypatch):
    from xaicli.data import download

    def no_network(name, root):
        raise AssertionError("a later command tried to download")

    write_mnist_idx(tmp_path / "idx", n_train=300, n_test=60)
    run = tmp_path / "run"
    trained = cli("train", SMOKE, *TINY, "data.name=mnist", f"data.root={tmp_path / 'idx'}", "--run-dir", run)
    assert trained.exit_code == 0, trained.output
    assert json.loads((run / "meta.json").read_text())["data"]["source"] == "local"
    monkeypatch.setattr(download, "download_torchvision", no_network)
    monkeypatch.chdir(tmp_path)  # data.root is absolute in meta.json, relative nowhere
    first = cli("eval", run, "--json")
    assert first.exit_code == 0, first.output
    assert first.output.count("as the run recorded") == 1
    assert json.loads((run / "eval" / "metrics.json").read_text())["data"]["source"] == "local"
    shutil.rmtree(tmp_path / "idx")
    gone = cli("eval", run)
    assert gone.exit_code == 2 and "not available any more" in gone.output and "--data-source" in gone.output
    other = cli("eval", run, "--data-source", "embedded", "--json")
    assert other.exit_code == 0, other.output
    history = (run / "eval" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["data"]["source"] for line in history] == ["local", "embedded"]
    assert json.loads((run / "eval" / "metrics.json").read_text())["data"]["source"] == "embedded"


@pytest.mark.e2e
def test_training_ends_with_a_summary_and_an_eta(smoke_run):
    log = (smoke_run / "log.txt").read_text()
    assert "ETA" in log
    assert "done: 2 epochs in" in log and "best val_acc" in log and "checkpoints/best.pt" in log
    assert f"next: xai eval {smoke_run}   xai explain {smoke_run}" in log


@pytest.mark.e2e
def test_eval_says_what_it_evaluated_and_which_files_it_wrote(smoke_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run, ignore=shutil.ignore_patterns("eval", "explain"))
    proc = xai("eval", run, "--checkpoint", "best", "--split", "val")
    assert proc.returncode == 0, proc.stderr
    assert f"evaluated {run / 'checkpoints' / 'best.pt'} (epoch 2) on the val split: 26 images" in proc.stderr
    assert f"wrote {run / 'eval' / 'metrics.json'}" in proc.stderr
    xai("eval", run, check=True)
    assert len((run / "eval" / "history.jsonl").read_text().splitlines()) == 2


@pytest.mark.e2e
def test_gan_eval_opens_with_the_fid_verdict(gan_runs):
    proc = xai("eval", gan_runs["gan"], "--classifier", gan_runs["classifier"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0].startswith("FID ") and "floor" in proc.stderr.splitlines()[0]


@pytest.mark.e2e
def test_a_finished_run_can_be_extended_and_an_unfinished_one_must_finish_first(tmp_path):
    run = tmp_path / "run"
    xai("train", SMOKE, *TINY, "--run-dir", run, check=True)
    extended = xai("train", "--resume", run, "train.epochs=3")
    assert extended.returncode == 0, extended.stderr
    assert "extending from 1 to 3 epochs" in extended.stderr
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 3
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows if r["kind"] == "epoch"] == [1, 2, 3]
    assert json.loads((run / "meta.json").read_text())["extended"] == {"from": 1, "to": 3}
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 3
    shrink = xai("train", "--resume", run, "train.epochs=2")
    assert shrink.returncode == 2 and "train.epochs may grow" in shrink.stderr
    # an unfinished run (stopped in epoch 1 of 3) cannot change its length before it finishes
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    state.update(epoch=1, step_in_epoch=1)
    torch.save(state, run / "checkpoints" / "last.pt")
    early = xai("train", "--resume", run, "train.epochs=5")
    assert early.returncode == 2 and "finish it first" in early.stderr


def test_readme_mentions_every_command():
    readme = (ROOT / "README.md").read_text()
    for command in ("xai train", "xai eval", "xai sample", "xai explain", "xai config --explain", "xai list"):
        assert command in readme, command
