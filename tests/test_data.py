import gzip
import hashlib
import shutil

import numpy as np
import pytest
import torch

from xaicli.data import download, mnist_family, synthetic
from xaicli.data.embedded import EMBEDDED_PATH, EMBEDDED_SHA256, load_embedded
from xaicli.data.idx import read_idx
from xaicli.data.loader import BatchStream, random_shift
from xaicli.data.registry import DATASETS
from xaicli.errors import XaiError


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist_idx(folder, n_train=20, n_test=10, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for name, a in arrays.items():
        data = idx_bytes(a)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_reader_round_trip(tmp_path, gz):
    arrays = write_mnist_idx(tmp_path, gz=gz)
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    got = read_idx(tmp_path / name)
    assert got.shape == (20, 28, 28) and got.dtype == np.uint8
    assert np.array_equal(got, arrays["train-images-idx3-ubyte"])


def test_idx_reader_rejects_truncated_and_foreign_files(tmp_path):
    write_mnist_idx(tmp_path, gz=False)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(XaiError, match="truncated"):
        read_idx(p)
    q = tmp_path / "junk"
    q.write_bytes(b"hello world")
    with pytest.raises(XaiError, match="magic"):
        read_idx(q)


def test_local_idx_folder_and_torchvision_layout(tmp_path):
    write_mnist_idx(tmp_path / "flat")
    write_mnist_idx(tmp_path / "tv" / "MNIST" / "raw", gz=False)
    for root in (tmp_path / "flat", tmp_path / "tv"):
        data = mnist_family.mnist(root=str(root), source="local")
        assert data.x_train.shape == (20, 1, 28, 28) and data.x_test.shape == (10, 1, 28, 28)
        assert data.provenance["source"] == "local"


def test_fashion_mnist_reads_an_idx_folder(tmp_path):
    write_mnist_idx(tmp_path, n_train=30)
    data = mnist_family.fashion_mnist(root=str(tmp_path), source="local")
    assert len(data.x_train) == 30 and data.class_names[0] == "T-shirt/top"


def test_embedded_subset_checksum_and_stratified_split():
    assert hashlib.sha256(EMBEDDED_PATH.read_bytes()).hexdigest() == EMBEDDED_SHA256
    arrays = load_embedded()
    assert arrays["x_train"].shape == (4000, 28, 28) and arrays["x_test"].shape == (1000, 28, 28)
    assert np.bincount(arrays["y_train"]).tolist() == [400] * 10
    assert np.bincount(arrays["y_test"]).tolist() == [100] * 10
    # real digits, not noise: mostly black background with bright strokes
    assert 0.1 < (arrays["x_train"] > 128).mean() < 0.3


def test_embedded_subset_detects_corruption(tmp_path):
    bad = tmp_path / "copy.npz"
    shutil.copy(EMBEDDED_PATH, bad)
    raw = bytearray(bad.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(XaiError, match="checksum mismatch"):
        load_embedded(bad)


def test_auto_order_local_then_download_then_embedded(tmp_path, monkeypatch):
    calls = []

    def offline(cls_name, root):
        calls.append(cls_name)
        raise XaiError(f"{cls_name} download to {root} failed: network unreachable")

    monkeypatch.setattr(download, "download_torchvision", offline)
    # nothing local, no network -> embedded, after trying the download once
    data = mnist_family.mnist(root=str(tmp_path / "empty"), source="auto")
    assert calls == ["MNIST"] and data.provenance["source"] == "embedded" and len(data.x_train) == 4000
    # local files present -> used, and no download is attempted
    calls.clear()
    write_mnist_idx(tmp_path / "local")
    data = mnist_family.mnist(root=str(tmp_path / "local"), source="auto")
    assert calls == [] and data.provenance["source"] == "local"
    # forced download without network fails clearly instead of falling back
    with pytest.raises(XaiError, match="download"):
        mnist_family.mnist(root=str(tmp_path / "empty"), source="download")
    with pytest.raises(XaiError, match="no mnist IDX files"):
        mnist_family.mnist(root=str(tmp_path / "empty"), source="local")


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_builds_or_fails_clearly_offline(tmp_path, monkeypatch, name):
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT_S", 2.0)
    try:
        data = DATASETS.get(name)(root=str(tmp_path), source="auto", num_train=0, num_test=0)
    except XaiError as exc:
        assert name in str(exc).lower() or str(tmp_path) in str(exc)
        return
    assert data.x_train.dtype == torch.uint8 and data.x_train.ndim == 4
    assert len(data.y_train) == len(data.x_train) and data.num_classes == 10
    assert int(data.y_train.max()) < data.num_classes


def test_synthetic_is_deterministic():
    a, b = synthetic.synthetic(num_train=64, num_test=16), synthetic.synthetic(num_train=64, num_test=16)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)


def test_batch_stream_permutation_is_per_epoch_and_resumable():
    x = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1).expand(100, 1, 2, 2).contiguous()
    y = torch.arange(100)
    s = BatchStream(x, y, 10, torch.device("cpu"), seed=3)
    e0 = [b[1] for b in s.epoch(0)]
    assert len(e0) == 10 and sorted(torch.cat(e0).tolist()) == list(range(100))
    assert [t.tolist() for t in e0] == [b[1].tolist() for b in s.epoch(0)]  # same epoch, same order
    assert torch.cat(e0).tolist() != torch.cat([b[1] for b in s.epoch(1)]).tolist()
    tail = [b[1] for b in s.epoch(0, start_step=4)]  # resume mid-epoch: the same remaining batches
    assert [t.tolist() for t in tail] == [t.tolist() for t in e0[4:]]


def test_ddp_shards_partition_each_global_batch():
    x = torch.zeros(64, 1, 2, 2, dtype=torch.uint8)
    y = torch.arange(64)
    full = BatchStream(x, y, 16, torch.device("cpu"), seed=1)
    ranks = [BatchStream(x, y, 16, torch.device("cpu"), seed=1, rank=r, world_size=2) for r in range(2)]
    for (_, yf), (_, y0), (_, y1) in zip(full.epoch(2), ranks[0].epoch(2), ranks[1].epoch(2), strict=True):
        assert len(y0) == len(y1) == 8
        assert torch.cat([y0, y1]).tolist() == yf.tolist()


def test_random_shift_moves_whole_images():
    x = torch.zeros(50, 1, 12, 12, dtype=torch.uint8)
    x[:, :, 5:7, 5:7] = 200
    g = torch.Generator().manual_seed(0)
    out = random_shift(x, 2, g)
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert (out.float().sum((1, 2, 3)) == 800).all()  # a 2-pixel shift keeps the centred blob inside
    assert not torch.equal(out, x)
