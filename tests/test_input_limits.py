"""Bad input that used to crash late or never end: each is a config or data error (exit 2) before any run
folder is made, and sizes are capped before memory or time is spent on them."""

import gzip
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, SMOKE, cli

from xaicli import config as cfgmod
from xaicli.data import idx as idxmod
from xaicli.errors import ConfigError


def idx_file(array: np.ndarray, code: int = 0x08) -> bytes:
    dtype = {0x08: np.uint8, 0x09: np.int8, 0x0D: ">f4"}[code]
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(dtype).tobytes()


def mnist_folder(folder, labels: np.ndarray, code: int = 0x08):
    folder.mkdir(parents=True, exist_ok=True)
    n = len(labels)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    files = {"train-images-idx3-ubyte": idx_file(images), "train-labels-idx1-ubyte": idx_file(labels, code),
             "t10k-images-idx3-ubyte": idx_file(images[:10]), "t10k-labels-idx1-ubyte": idx_file(np.arange(10) % 10)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize("labels, code, expected", [
    (np.array([0, 1, 200, 3] * 10), 0x08, "200"),
    (np.array([0, 1, -1, 3] * 10), 0x09, "-1"),
    (np.array([0.5, 1, 2, 3] * 10), 0x0D, "floating"),
], ids=["200", "minus one as int8", "float labels"])
def test_bad_idx_labels_are_data_errors_before_a_run_folder(tmp_path, labels, code, expected):
    data = mnist_folder(tmp_path / "idx", labels, code)
    runs = tmp_path / "runs"
    result = cli("train", SMOKE, "data.name=mnist", "data.source=local", f"data.root={data}",
                 f"train.runs_dir={runs}")
    assert result.exit_code == 2, result.output
    assert "train-labels-idx1-ubyte" in result.stderr and expected in result.stderr
    assert not runs.exists()


@pytest.mark.parametrize("override, key", [
    ("train.threads=100000", "train.threads"),
    (f"seed={2**64}", "seed"),
    (f"data.split_seed={2**64}", "data.split_seed"),
    ("explain.target=²", "explain.target"),
    ('name="run\\n"', "name"),  # a YAML escape: the name ends in a newline
    ("name=" + "a" * 300, "name"),
    (f"data.batch_size={10**30}", "data.batch_size"),
])
def test_out_of_range_values_are_config_errors(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        cfgmod.load(SMOKE, [override])


@pytest.mark.parametrize("width", [0, -4])
def test_an_empty_or_negative_model_size_is_a_config_error_before_a_run_folder(tmp_path, width):
    runs = tmp_path / "runs"
    result = cli("train", SMOKE, f"model.args.width={width}", f"train.runs_dir={runs}")
    assert result.exit_code == 2, result.output
    assert "model.args" in result.stderr and "Traceback" not in result.output
    assert not runs.exists()


def test_an_explain_target_that_is_not_ascii_digits_is_refused(smoke_run):
    result = cli("explain", smoke_run, "--target", "²", "--method", "saliency")
    assert result.exit_code == 2 and "--target" in result.stderr


def xai_config(tmp_path, text: str, timeout: float = 60) -> subprocess.CompletedProcess:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    try:
        return subprocess.run([sys.executable, "-m", "xaicli", "config", str(path)], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"xai config did not end within {timeout} s") from None


def alias_bomb(levels: int = 9) -> str:
    lines = ["model:", "  name: fast_cnn", "  args:", "    a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, levels):
        lines.append(f"    a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    proc = xai_config(tmp_path, alias_bomb())
    assert proc.returncode == 2 and "alias" in proc.stderr, proc.stderr[-500:]


@pytest.mark.parametrize("text, expected", [
    ("model:\n  args:\n    deep: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
    ("seed: " + "9" * 5000 + "\n", "digits"),
])
def test_deep_nesting_and_huge_integers_are_config_errors(tmp_path, text, expected):
    proc = xai_config(tmp_path, text)
    assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-500:]


def test_merge_keys_are_accepted_and_explicit_keys_win(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: fast_cnn\n  args:\n    <<: {width: 8, hidden: 16}\n    hidden: 32\n")
    assert cfgmod.load(path).model.args == {"width": 8, "hidden": 32}
    path.write_text("model:\n  args:\n    width: 8\n    width: 9\n")
    with pytest.raises(ConfigError, match="duplicate key"):
        cfgmod.load(path)


def test_sample_count_is_capped_before_anything_is_loaded(gan_runs):
    result = cli("sample", gan_runs["gan"], "-n", "10000000")
    assert result.exit_code == 2 and "-n" in result.stderr and "at most" in result.stderr


def test_samples_are_generated_and_written_in_chunks(gan_runs, tmp_path, monkeypatch):
    from xaicli import sampling
    from xaicli.runs.checkpoint import load_checkpoint
    from xaicli.tasks.gan import GanTask

    sizes = []
    real = GanTask.decode

    def decode(self, z, labels=None, batch_size=1000):
        sizes.append(len(z))
        return real(self, z, labels, batch_size)

    monkeypatch.setattr(GanTask, "decode", decode)
    monkeypatch.setattr(sampling, "CHUNK", 100)
    out = tmp_path / "many"
    sampling.run_sample(str(gan_runs["gan"]), n=250, out=str(out))
    assert sizes == [100, 100, 50]
    images = load_checkpoint(out / "samples.pt")["images"]
    assert images.shape[0] == 250 and len(list((out / "images").iterdir())) == 250
    whole = tmp_path / "whole"
    monkeypatch.setattr(sampling, "CHUNK", 1000)
    sampling.run_sample(str(gan_runs["gan"]), n=250, out=str(whole))
    assert (load_checkpoint(whole / "samples.pt")["images"] == images).all()  # chunking changes nothing


class CountingGzip:
    """gzip.open that counts the decompressed bytes handed out."""

    def __init__(self):
        self.total, self.open = 0, gzip.open

    def __call__(self, path, mode="rb"):
        fh = self.open(path, mode)
        counter = self

        class Wrapped:
            def read(self, n=-1):
                data = fh.read(n)
                counter.total += len(data)
                return data

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                fh.close()

        return Wrapped()


def test_a_gzip_bomb_is_refused_without_decompressing_it(tmp_path, monkeypatch):
    labels = np.arange(100) % 10
    bomb = tmp_path / "train-labels-idx1-ubyte.gz"
    with gzip.open(bomb, "wb") as fh:
        fh.write(idx_file(labels))
        zeros = bytes(1 << 20)
        for _ in range(64):  # 64 MiB of padding after the declared data
            fh.write(zeros)
    counting = CountingGzip()
    monkeypatch.setattr(idxmod.gzip, "open", counting)
    with pytest.raises(Exception, match="padded|more data"):
        idxmod.read_idx(bomb)
    assert counting.total < 1 << 16
    huge = tmp_path / "t10k-images-idx3-ubyte.gz"
    header = bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big") for d in (2**31, 28, 28))
    huge.write_bytes(gzip.compress(header + bytes(1000)))
    counting.total = 0
    with pytest.raises(Exception, match="declares"):
        idxmod.read_idx(huge)
    assert counting.total < 1 << 16
