"""CIFAR-10 through torchvision: its files under data.root, or a download."""

from __future__ import annotations

from pathlib import Path

from xaicli.data.base import ImageData, from_arrays
from xaicli.data.download import socket_timeout, torchvision_arrays
from xaicli.data.registry import DATASETS
from xaicli.errors import XaiError

CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@DATASETS.register("cifar10")
def cifar10(root: str, source: str, **_) -> ImageData:
    import torchvision.datasets as tvd

    if source == "embedded":
        raise XaiError("cifar10: there is no embedded subset; use source: local or download")
    download = source in ("auto", "download")
    try:
        with socket_timeout():
            train = tvd.CIFAR10(root, train=True, download=download)
            test = tvd.CIFAR10(root, train=False, download=download)
    except Exception as exc:
        raise XaiError(f"cifar10: no data in {root} and download "
                       f"{'failed' if download else 'not allowed'}: {str(exc).splitlines()[0][:200]}") from None
    return from_arrays(torchvision_arrays(train, test), CIFAR10,
                        {"dataset": "cifar10", "source": "local-or-download", "path": str(Path(root).resolve())})


