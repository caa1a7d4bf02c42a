import json

import pytest
import torch
import yaml
from conftest import SMOKE, xai

pytestmark = pytest.mark.e2e  # drives the real CLI: training runs in subprocesses


def test_train_writes_a_complete_run_directory(smoke_run):
    for rel in ("config.yaml", "meta.json", "log.txt", "metrics.jsonl", "metrics.csv",
                "checkpoints/last.pt", "checkpoints/best.pt", "plots/training.png"):
        assert (smoke_run / rel).is_file(), rel
    meta = json.loads((smoke_run / "meta.json").read_text())
    assert meta["exit_code"] == 0 and meta["seed"] == 0 and meta["versions"]["torch"]
    assert meta["data"]["source"] == "generated" and meta["data"]["train_images"] == 230  # 256 - 26 val
    assert meta["data"]["val_images"] == 26 and meta["data"]["test_images"] == 128
    assert meta["end_time"] and meta["device"] == "cpu"
    rows = [json.loads(line) for line in (smoke_run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in rows if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert epochs[-1]["val_acc"] > 0.5  # synthetic classes are easy: well above chance (0.1)
    assert len((smoke_run / "metrics.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs
    assert "epoch 2/2 done" in (smoke_run / "log.txt").read_text()


def test_checkpoints_are_plain_data_with_format_and_kind(smoke_run):
    state = torch.load(smoke_run / "checkpoints" / "last.pt", weights_only=True)
    assert state["format_version"] == 1 and state["kind"] == "classifier"
    assert state["model_name"] == "fast_cnn" and state["epoch"] == 2
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in state["models"]["model"])
    assert torch.is_tensor(state["rng"]["cpu"])


def test_eval_table_json_and_files(smoke_run):
    table = xai("eval", smoke_run)
    assert table.returncode == 0, table.stderr
    assert "accuracy" in table.stdout and "ece" in table.stdout
    proc = xai("eval", smoke_run, "--json")
    assert proc.returncode == 0
    printed = json.loads(proc.stdout)
    written = json.loads((smoke_run / "eval" / "metrics.json").read_text())
    assert printed == written
    for key in ("accuracy", "loss", "ece", "per_class_accuracy", "confusion_matrix"):
        assert key in printed
    matrix = printed["confusion_matrix"]
    assert len(matrix) == 10 and sum(map(sum, matrix)) == 128
    correct = sum(matrix[i][i] for i in range(10))
    assert printed["accuracy"] == pytest.approx(correct / 128)
    assert (smoke_run / "plots" / "confusion_matrix.png").stat().st_size > 1000


def test_run_numbering_last_line_and_rerun_from_resolved_config(tmp_path):
    runs = tmp_path / "runs"
    first = xai("train", SMOKE, f"train.runs_dir={runs}", "train.epochs=1", check=True)
    second = xai("train", SMOKE, f"train.runs_dir={runs}", "train.epochs=1", check=True)
    p1, p2 = (p.stdout.strip().splitlines()[-1] for p in (first, second))
    assert p1.endswith("smoke_cnn-001") and p2.endswith("smoke_cnn-002")
    # the resolved config reruns the experiment: same seed, same weights
    third = xai("train", f"{p1}/config.yaml", "--run-dir", tmp_path / "again", check=True)
    assert third.stdout.strip().splitlines()[-1] == str(tmp_path / "again")
    a = torch.load(f"{p1}/checkpoints/last.pt", weights_only=True)["models"]["model"]
    b = torch.load(tmp_path / "again" / "checkpoints" / "last.pt", weights_only=True)["models"]["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert yaml.safe_load((tmp_path / "again" / "config.yaml").read_text())["name"] == "smoke_cnn"


def test_run_dir_holding_a_run_is_refused_and_left_intact(smoke_run):
    before = (smoke_run / "checkpoints" / "last.pt").read_bytes()
    proc = xai("train", SMOKE, "--run-dir", smoke_run)
    assert proc.returncode == 2 and "already holds a run" in proc.stderr
    assert (smoke_run / "checkpoints" / "last.pt").read_bytes() == before


@pytest.mark.parametrize("args, code, text", [
    (["train", "missing.yaml"], 2, "not found"),
    (["train", SMOKE, "model.name=fast_cn"], 2, "did you mean 'fast_cnn'"),
    (["train", SMOKE, "model.args.widht=3"], 2, "did you mean 'width'"),
    (["train", SMOKE, "data.name=mnsit"], 2, "did you mean 'mnist'"),
    (["train", SMOKE, "train.device=cuda"], 2, "CUDA is not available"),
    (["eval", "no/such/run"], 2, "no such run directory"),
    (["list", "modles"], 2, "did you mean 'models'"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, args, code, text):
    proc = xai(*args, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    assert text in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()  # nothing was created


def test_sample_on_a_classifier_run_exits_2(smoke_run):
    proc = xai("sample", smoke_run)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_list_and_dry_run():
    proc = xai("list", "models", check=True)
    assert {"mlp", "cnn", "fast_cnn"} <= set(proc.stdout.split())
    assert "torchvision:NAME" in proc.stderr and "torchvision" not in proc.stdout
    proc = xai("list", "datasets", check=True)
    assert {"mnist", "fashion_mnist", "cifar10", "synthetic"} <= set(proc.stdout.split())
    dry = xai("train", SMOKE, "--dry-run", check=True)
    assert "parameters" in dry.stdout and "230 train / 26 val / 128 test" in dry.stdout


def test_cpu_training_tunes_glibc_malloc_unless_the_environment_chose(smoke_run, tmp_path):
    import platform

    meta = json.loads((smoke_run / "meta.json").read_text())
    if platform.libc_ver()[0] == "glibc":
        assert meta["cpu_allocator"] == "glibc mmap threshold 32 MiB, trim threshold 512 MiB"
    else:
        assert meta["cpu_allocator"].startswith("unchanged")
    run = tmp_path / "run"
    xai("train", SMOKE, "train.epochs=1", "--run-dir", run, env={"MALLOC_ARENA_MAX": "2"}, check=True)
    meta = json.loads((run / "meta.json").read_text())
    assert meta["cpu_allocator"] == "unchanged (allocator chosen by the environment)"
