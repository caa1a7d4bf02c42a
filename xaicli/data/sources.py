"""The datasets: MNIST (IDX folder, download, embedded subset), Fashion-MNIST, CIFAR-10, synthetic."""

from __future__ import annotations

import re
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from xaicli.data.base import ImageData, channel_stats
from xaicli.data.embedded import EMBEDDED_PATH, PROVENANCE, load_embedded
from xaicli.data.idx import find_idx_folder, read_idx_folder
from xaicli.errors import XaiError
from xaicli.registry import Registry

DATASETS: Registry[Callable[..., ImageData]] = Registry("dataset")
DOWNLOAD_TIMEOUT_S = 10.0
DIGITS = [str(i) for i in range(10)]
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _from_arrays(arrays: dict[str, np.ndarray], class_names: list[str], provenance: dict) -> ImageData:
    def images(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.array(a, dtype=np.uint8))  # a writable copy
        return t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(a, dtype=np.int64))

    x_train, x_test = images(arrays["x_train"]), images(arrays["x_test"])
    mean, std = channel_stats(x_train)
    provenance = {**provenance, "train_images": len(x_train), "test_images": len(x_test)}
    return ImageData(x_train, labels(arrays["y_train"]), x_test, labels(arrays["y_test"]), mean, std,
                     class_names, provenance)


def _download_torchvision(cls_name: str, root: Path) -> dict[str, np.ndarray]:
    """Download through torchvision with a short socket timeout; any failure is an XaiError."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            train, test = cls(str(root), train=True, download=True), cls(str(root), train=False, download=True)
    except Exception as exc:  # torchvision raises many kinds (URLError, RuntimeError, OSError)
        text = " ".join(str(exc).split())
        network = re.search(r"<urlopen error (.*?)>", text)  # the cause, without the mirror list
        reason = network.group(1) if network else (text[:160] or type(exc).__name__)
        raise XaiError(f"{cls_name} download to {root} failed ({reason})") from None
    return _torchvision_arrays(train, test)


def _torchvision_arrays(train, test) -> dict[str, np.ndarray]:
    def arr(a) -> np.ndarray:
        return a.numpy() if isinstance(a, torch.Tensor) else np.asarray(a)

    return {"x_train": arr(train.data), "y_train": arr(train.targets),
            "x_test": arr(test.data), "y_test": arr(test.targets)}


def _idx_dataset(name: str, tv_name: str, root: str, source: str, class_names: list[str],
                 embedded: bool) -> ImageData:
    """Resolve `source` for an MNIST-family dataset: local IDX, download, then the embedded subset."""
    root_path = Path(root).expanduser()
    tried = []
    if source in ("auto", "local"):
        folder = find_idx_folder(root_path, tv_name)
        if folder is not None:
            return _from_arrays(read_idx_folder(folder), class_names,
                                {"dataset": name, "source": "local", "path": str(folder.resolve())})
        tried.append(f"no IDX files in {root_path} or {root_path / tv_name / 'raw'}")
        if source == "local":
            raise XaiError(f"data.root {root_path}: no {name} IDX files found (expected "
                           f"train-images-idx3-ubyte[.gz] and the three others)")
    if source in ("auto", "download"):
        try:
            arrays = _download_torchvision(tv_name, root_path)
            return _from_arrays(arrays, class_names,
                                {"dataset": name, "source": "download", "path": str(root_path.resolve())})
        except XaiError as exc:
            if source == "download" or not embedded:
                raise
            tried.append(str(exc))
    if embedded and source in ("auto", "embedded"):
        if source == "auto":
            from xaicli.console import warn

            warn(f"{name}: using the embedded 5,000-digit subset ({'; '.join(tried)})")
        return _from_arrays(load_embedded(), class_names,
                            {"dataset": name, "source": "embedded", "path": str(EMBEDDED_PATH),
                             "note": PROVENANCE})
    raise XaiError(f"{name}: no data found ({'; '.join(tried) or 'source: ' + source}); "
                   f"set data.root to a folder with the IDX files")


@DATASETS.register("mnist")
def mnist(root: str, source: str, **_) -> ImageData:
    return _idx_dataset("mnist", "MNIST", root, source, DIGITS, embedded=True)


@DATASETS.register("fashion_mnist")
def fashion_mnist(root: str, source: str, **_) -> ImageData:
    if source == "embedded":
        raise XaiError("fashion_mnist: there is no embedded subset; use source: local with data.root "
                       "(for example /usr/share/datasets/fashion-mnist) or source: download")
    return _idx_dataset("fashion_mnist", "FashionMNIST", root, source, FASHION, embedded=False)


@DATASETS.register("cifar10")
def cifar10(root: str, source: str, **_) -> ImageData:
    import torchvision.datasets as tvd

    if source == "embedded":
        raise XaiError("cifar10: there is no embedded subset; use source: local or download")
    download = source in ("auto", "download")
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            train = tvd.CIFAR10(root, train=True, download=download)
            test = tvd.CIFAR10(root, train=False, download=download)
    except Exception as exc:
        raise XaiError(f"cifar10: no data in {root} and download "
                       f"{'failed' if download else 'not allowed'}: {str(exc).splitlines()[0][:200]}") from None
    return _from_arrays(_torchvision_arrays(train, test), CIFAR10,
                        {"dataset": "cifar10", "source": "local-or-download", "path": str(Path(root).resolve())})


@DATASETS.register("synthetic")
def synthetic(num_train: int = 0, num_test: int = 0, seed: int = 0, **_) -> ImageData:
    """Deterministic 1x28x28 images: a fixed random blob per class plus noise; learnable in a few steps."""
    n_train, n_test = num_train or 1024, num_test or 256
    g = torch.Generator().manual_seed(1234)
    templates = torch.rand(10, 1, 7, 7, generator=g)
    templates = torch.nn.functional.interpolate(templates, size=(28, 28), mode="bilinear", align_corners=False)

    def make(n: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        gg = torch.Generator().manual_seed(1000 + offset)
        y = torch.arange(n) % 10
        y = y[torch.randperm(n, generator=gg)]
        x = templates[y] + 0.15 * torch.randn(n, 1, 28, 28, generator=gg)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), y

    x_train, y_train = make(n_train, 0)
    x_test, y_test = make(n_test, 1)
    mean, std = channel_stats(x_train)
    return ImageData(x_train, y_train, x_test, y_test, mean, std, DIGITS,
                     {"dataset": "synthetic", "source": "generated", "train_images": n_train,
                      "test_images": n_test})


def load_dataset(cfg) -> ImageData:
    """Build the dataset named by `cfg.data` (a DataConfig) and apply num_train / num_test."""
    builder = DATASETS.get(cfg.name, key="data.name")
    data = builder(root=cfg.root, source=cfg.source, num_train=cfg.num_train, num_test=cfg.num_test)
    return data.limit(cfg.num_train, cfg.num_test)
