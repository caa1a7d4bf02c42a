"""Checkpoint files: serialised in memory and written atomically; loaded with weights_only=True only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from xaicli.errors import XaiError
from xaicli.runs.files import atomic_write_bytes

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: Path, state: dict) -> None:
    """Serialise with torch.save into memory, then write atomically."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:
        raise XaiError(f"{path}: could not save the checkpoint ({exc.strerror or exc}); "
                       f"the previous checkpoint is unchanged") from None


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict:
    """Load a checkpoint with `weights_only=True`; anything odd is a one-line XaiError."""
    return read_checkpoint(path, map_location)[0]


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> tuple[dict, str]:
    """The checkpoint and the SHA-256 of the very bytes it was loaded from: the file is read once, so a
    training run replacing it meanwhile cannot make the hash describe other weights."""
    import hashlib
    import io
    import pickle

    import torch

    path = Path(path)
    if not path.exists():
        raise XaiError(f"{path}: checkpoint not found")
    if not path.is_file() or path.stat().st_size == 0:
        raise XaiError(f"{path}: checkpoint is corrupt or incomplete (not a non-empty file)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise XaiError(f"{path}: cannot read the checkpoint ({exc.strerror})") from None
    try:
        state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = " ".join(str(exc).split())
        found = re.search(r"unsupported GLOBAL (\S+)|Unsupported global: GLOBAL (\S+)", text, re.IGNORECASE)
        if found:
            name = (found.group(1) or found.group(2)).rstrip(".,")
            raise XaiError(f"{path}: refused to load: the checkpoint asks to run or build the Python object "
                           f"'{name}', which a checkpoint never needs; it was not loaded") from None
        detail = re.search(r"WeightsUnpickler error:\s*(.{0,80}?)(\s+Check|$)", text)
        raise XaiError(f"{path}: checkpoint is corrupt or incomplete "
                       f"({detail.group(1) if detail else text[:120]})") from None
    except Exception as exc:  # any bytes may arrive here: IndexError, struct.error, TypeError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise XaiError(f"{path}: checkpoint is corrupt or incomplete ({first[:160]})") from None
    if not isinstance(state, dict) or "format_version" not in state:
        raise XaiError(f"{path}: checkpoint is corrupt or incomplete (no format_version; "
                       f"not written by xai)")
    version = state["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise XaiError(f"{path}: checkpoint is corrupt or incomplete (format_version is {version!r}, "
                       f"expected a whole number >= 1)")
    if version > CHECKPOINT_FORMAT:
        raise XaiError(f"{path}: checkpoint format {state['format_version']} is newer than this "
                       f"xai understands ({CHECKPOINT_FORMAT}); upgrade xai")
    return state, hashlib.sha256(data).hexdigest()


