"""MNIST and Fashion-MNIST: an IDX folder, a torchvision download, or (MNIST only) the embedded subset."""

from __future__ import annotations

from pathlib import Path

from xaicli.data import download
from xaicli.data.base import ImageData, from_arrays
from xaicli.data.embedded import EMBEDDED_PATH, PROVENANCE, load_embedded
from xaicli.data.idx import find_idx_folder, read_idx_folder
from xaicli.data.registry import DATASETS
from xaicli.errors import XaiError

DIGITS = [str(i) for i in range(10)]
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]


def _idx_dataset(name: str, tv_name: str, root: str, source: str, class_names: list[str],
                 embedded: bool) -> ImageData:
    """Resolve `source` for an MNIST-family dataset: local IDX, download, then the embedded subset."""
    root_path = Path(root).expanduser()
    tried = []
    if source in ("auto", "local"):
        folder = find_idx_folder(root_path, tv_name)
        if folder is not None:
            return from_arrays(read_idx_folder(folder), class_names,
                                {"dataset": name, "source": "local", "path": str(folder.resolve())})
        tried.append(f"no IDX files in {root_path} or {root_path / tv_name / 'raw'}")
        if source == "local":
            raise XaiError(f"data.root {root_path}: no {name} IDX files found (expected "
                           f"train-images-idx3-ubyte[.gz] and the three others)")
    if source in ("auto", "download"):
        try:
            arrays = download.download_torchvision(tv_name, root_path)
            return from_arrays(arrays, class_names,
                                {"dataset": name, "source": "download", "path": str(root_path.resolve())})
        except XaiError as exc:
            if source == "download":
                raise
            if not embedded:
                raise XaiError(f"{name}: {'; '.join([*tried, str(exc)])}; set data.root to a folder with the "
                               f"four IDX files (train-images-idx3-ubyte[.gz] and the others; Debian's "
                               f"dataset-fashion-mnist package installs them in /usr/share/datasets/fashion-mnist)"
                               ) from None
            tried.append(str(exc))
    if embedded and source in ("auto", "embedded"):
        if source == "auto":
            from xaicli.viz.console import warn

            warn(f"{name}: using the embedded 5,000-digit subset ({'; '.join(tried)})")
        return from_arrays(load_embedded(), class_names,
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


