"""Reader for the IDX format of MNIST and Fashion-MNIST (gzipped or not)."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np

from xaicli.errors import ConfigError, XaiError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


MAX_IDX_BYTES = 1 << 33  # 8 GiB: far above any MNIST-family file (47 MB for MNIST's training images)
GZIP_MAX_RATIO = 1100  # deflate expands at most about 1032 : 1


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file: magic (0, 0, dtype, ndim), big-endian sizes, then the data. The sizes the
    header declares are checked (against a cap and the file's size) before the data is read, and a
    gzipped file is decompressed only as far as the declared data goes: a gzip bomb costs nothing."""
    gz = path.suffix == ".gz"
    opener = gzip.open if gz else open
    try:
        on_disk = path.stat().st_size
        with opener(path, "rb") as fh:
            head = fh.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _DTYPES:
                raise XaiError(f"{path}: not an IDX file (bad magic number)")
            dims = fh.read(4 * head[3])
            shape = tuple(int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(len(dims) // 4))
            dtype = np.dtype(_DTYPES[head[2]])
            expected = math.prod(shape) * dtype.itemsize
            check_declared(path, shape, expected, 4 + len(dims), on_disk, gz)
            raw = fh.read(expected + 1)  # one byte more than declared tells a padded file
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise XaiError(f"{path}: cannot read IDX file ({exc})") from None
    if len(dims) != 4 * head[3] or len(raw) != expected:
        found = "more" if len(raw) > expected else f"{len(raw)}"
        raise XaiError(f"{path}: IDX file is truncated or padded "
                       f"({found} data bytes, expected {expected} for shape {shape})")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def check_declared(path: Path, shape: tuple, expected: int, header: int, on_disk: int, gz: bool) -> None:
    """Refuse a header that declares more data than the cap, or than a file of this size can hold."""
    if expected > MAX_IDX_BYTES:
        raise XaiError(f"{path}: the IDX header declares {expected:,} bytes of data (shape {shape}), more "
                       f"than the {MAX_IDX_BYTES:,} this reader accepts")
    if gz and header + expected > on_disk * GZIP_MAX_RATIO:
        raise XaiError(f"{path}: the IDX header declares {expected:,} bytes of data (shape {shape}), more "
                       f"than a gzip file of {on_disk:,} bytes can hold; the file is damaged or crafted")
    if not gz and header + expected != on_disk:
        raise XaiError(f"{path}: IDX file is truncated or padded "
                       f"({on_disk - header} data bytes, expected {expected} for shape {shape})")


def find_idx_folder(root: Path, dataset_dir: str) -> Path | None:
    """The folder holding the four standard files: `root` itself or torchvision's `root/NAME/raw`."""
    for folder in (root, root / dataset_dir / "raw", root / dataset_dir):
        if all(_find(folder, stem) is not None for stem in MNIST_FILES.values()):
            return folder
    return None


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx_folder(folder: Path, num_classes: int = 10) -> dict[str, np.ndarray]:
    files = {key: _find(folder, stem) for key, stem in MNIST_FILES.items()}
    arrays = {key: read_idx(path) for key, path in files.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise XaiError(f"{folder}: {split} images {x.shape} and labels {y.shape} do not match")
        check_labels(files[f"y_{split}"], y, num_classes)
    return arrays


def check_labels(path: Path, labels: np.ndarray, num_classes: int) -> None:
    """Labels are whole class indices 0..num_classes-1: a data error (exit 2) before anything trains."""
    if not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"{path}: labels are floating-point numbers ({labels.dtype}); expected whole class "
                          f"indices 0 to {num_classes - 1}")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if len(bad):
        raise ConfigError(f"{path}: label {int(labels[bad[0]])} at index {int(bad[0])} (and {len(bad) - 1} more) "
                          f"is not a class index 0 to {num_classes - 1}")
