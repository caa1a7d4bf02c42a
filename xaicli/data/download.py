"""Downloads through torchvision with a short socket timeout: no network call may hang."""

from __future__ import annotations

import re
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from xaicli.errors import XaiError

DOWNLOAD_TIMEOUT_S = 10.0


@contextmanager
def socket_timeout(seconds: float | None = None) -> Iterator[None]:
    """A default socket timeout for the block (DOWNLOAD_TIMEOUT_S unless given)."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S if seconds is None else seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def download_torchvision(cls_name: str, root: Path) -> dict[str, np.ndarray]:
    """Download through torchvision with a short socket timeout; any failure is an XaiError."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        with socket_timeout():
            train, test = cls(str(root), train=True, download=True), cls(str(root), train=False, download=True)
    except Exception as exc:  # torchvision raises many kinds (URLError, RuntimeError, OSError)
        text = " ".join(str(exc).split())
        network = re.search(r"<urlopen error (.*?)>", text)  # the cause, without the mirror list
        reason = network.group(1) if network else (text[:160] or type(exc).__name__)
        raise XaiError(f"{cls_name} download to {root} failed ({reason})") from None
    return torchvision_arrays(train, test)


def torchvision_arrays(train, test) -> dict[str, np.ndarray]:
    def arr(a) -> np.ndarray:
        return a.numpy() if isinstance(a, torch.Tensor) else np.asarray(a)

    return {"x_train": arr(train.data), "y_train": arr(train.targets),
            "x_test": arr(test.data), "y_test": arr(test.targets)}


