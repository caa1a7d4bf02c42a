"""attributions.npz written block by block, so explaining many images holds one block in memory, not all.

Each array's rows go to a raw file beside the archive as they come (`add`); `close` packs those files into
the .npz that numpy.load reads (zip64, deflated like numpy.savez_compressed), copying each in pieces, and
puts it in place under its name only once it is complete. The raw files are removed then, or by `discard`.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

PIECE = 1 << 20  # bytes copied at a time into the archive


@dataclass
class _Part:
    path: Path
    file: BinaryIO
    dtype: np.dtype
    row_shape: tuple[int, ...]
    rows: int = 0


class NpzWriter:
    """Arrays built from row blocks (stacked along their first axis), saved as one .npz on close()."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.parts: dict[str, _Part] = {}

    def add(self, **arrays: np.ndarray) -> None:
        """Append each array's rows to the array of that name; every block of a name has the same dtype and
        the same shape after the first axis."""
        for name, array in arrays.items():
            a = np.ascontiguousarray(array)
            part = self.parts.get(name)
            if part is None:
                raw = self.path.with_name(f".{self.path.name}.{name}.part")
                part = self.parts[name] = _Part(raw, open(raw, "wb"), a.dtype, tuple(a.shape[1:]))
            elif a.dtype != part.dtype or tuple(a.shape[1:]) != part.row_shape:
                raise ValueError(f"{name}: a block of {a.dtype} {a.shape[1:]} after blocks of "
                                 f"{part.dtype} {part.row_shape}")
            part.file.write(a.tobytes())
            part.rows += len(a)

    def close(self) -> Path:
        """Write the .npz (a hidden file first, renamed into place once complete); remove the raw files."""
        staged = self.path.with_name(f".{self.path.name}.writing")
        with zipfile.ZipFile(staged, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for name, part in self.parts.items():
                part.file.close()
                header = {"descr": np.lib.format.dtype_to_descr(part.dtype), "fortran_order": False,
                          "shape": (part.rows, *part.row_shape)}
                with archive.open(f"{name}.npy", "w", force_zip64=True) as entry, open(part.path, "rb") as raw:
                    np.lib.format.write_array_header_1_0(entry, header)
                    shutil.copyfileobj(raw, entry, PIECE)
        os.replace(staged, self.path)
        self.discard()
        return self.path

    def discard(self) -> None:
        """Close and remove the raw files (after close(), or when the explanation failed)."""
        for part in self.parts.values():
            part.file.close()
            part.path.unlink(missing_ok=True)
        self.parts = {}
