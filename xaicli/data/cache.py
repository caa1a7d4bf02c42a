"""The decode-once cache: each split's images decoded at one size into a uint8 memory-mapped array.

One folder per split under the cache directory, named by a key over the file list (paths, labels,
sizes, modification times), the image size, the channels and the decoder's version: `images.npy`
(N, C, S, S), `labels.npy`, `info.json` (the files that could not be decoded, the per-channel sums
that give the normalisation statistics). It is written under a temporary name and renamed into place,
under an exclusive lock, so a second process waits for the first and then reuses its work; a process
killed while decoding leaves only a temporary folder that the next build removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from xaicli.data.decode import BadImage, decode_file
from xaicli.errors import XaiError

CACHE_VERSION = 1
CHUNK = 64  # files per task of the decoding pool


@dataclass
class CachedSplit:
    images: torch.Tensor  # uint8 (N, C, S, S), backed by the memory-mapped file
    labels: torch.Tensor  # int64 (N,)
    path: Path  # images.npy: the streaming loader reads it in blocks
    bad: list[tuple[str, str]]  # (file, reason) of the files left out
    info: dict

    def stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std over every pixel of the split, in [0, 1] units."""
        n = max(self.info["pixels"], 1)
        mean = np.array(self.info["sum"], dtype=np.float64) / n / 255
        var = np.array(self.info["sumsq"], dtype=np.float64) / n / 255**2 - mean**2
        std = np.sqrt(np.clip(var, 1e-6, None))
        return tuple(float(m) for m in mean), tuple(max(float(s), 1e-3) for s in std)


def cache_root(setting: str) -> Path:
    """data.cache_dir, or the user's cache folder ($XDG_CACHE_HOME/xai, ~/.cache/xai)."""
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xai"


def split_key(files: list[tuple[str, int]], size: int, channels: int, resize_to: int = 0) -> str:
    """A digest of everything the decoded split depends on; a missing file counts with size -1."""
    import torchvision

    resized = f" resize {resize_to}" if resize_to else ""  # keys of caches without one stay as they were
    h = hashlib.sha256(f"xai-cache {CACHE_VERSION} torchvision {torchvision.__version__} size {size} "
                       f"channels {channels}{resized}\n".encode())
    for path, label in files:
        try:
            st = os.stat(path)
            stamp = f"{st.st_size} {st.st_mtime_ns}"
        except OSError:
            stamp = "-1 -1"
        h.update(f"{os.path.abspath(path)}\t{label}\t{stamp}\n".encode())
    return h.hexdigest()[:32]


@contextmanager
def exclusive(lock_path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (waiting, with one line, while another process holds it)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock; the atomic rename still keeps the cache whole
        yield
        return
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            from xaicli.viz import console

            console.info(f"{what}: another process is decoding these images; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_split(folder: Path) -> CachedSplit:
    info = json.loads((folder / "info.json").read_text())
    images = np.load(folder / "images.npy", mmap_mode="c")  # copy-on-write: torch may wrap it
    labels = np.load(folder / "labels.npy")
    return CachedSplit(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), folder / "images.npy",
                       [tuple(b) for b in info["bad"]], info)


def load_or_build(files: list[tuple[str, int]], size: int, channels: int, root: Path, workers: int,
                  what: str, resize_to: int = 0) -> CachedSplit:
    """The split's cache, decoding it first when no process has (`what` names it in messages)."""
    key = split_key(files, size, channels, resize_to)
    folder = root / key
    if (folder / "info.json").is_file():
        return open_split(folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = root / f".{key}.lock"
        lock.touch()
    except OSError as exc:
        raise XaiError(f"data.cache_dir {root}: cannot write the decoded-image cache there ({exc.strerror}); "
                       f"set data.cache_dir to a writable folder") from None
    with exclusive(lock, what):
        if not (folder / "info.json").is_file():
            build(files, size, channels, folder, workers, what, resize_to)
    return open_split(folder)


def build(files: list[tuple[str, int]], size: int, channels: int, folder: Path, workers: int, what: str,
          resize_to: int = 0) -> None:
    """Decode `files` into `folder` (under the caller's lock): a temporary folder renamed at the end."""
    for stale in folder.parent.glob(f".{folder.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    tmp.mkdir()
    try:
        t0 = time.perf_counter()
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                           shape=(len(files), channels, size, size))
        bad, sums, sumsq = decode_all(files, size, channels, images, workers, what, resize_to)
        keep = np.ones(len(files), dtype=bool)
        keep[[i for i, _ in bad]] = False
        if not keep.all():
            images = compact(images, keep, tmp / "images.npy")
        images.flush()
        del images
        labels = np.array([label for _, label in files], dtype=np.int64)[keep]
        np.save(tmp / "labels.npy", labels)
        info = {"version": CACHE_VERSION, "count": int(keep.sum()), "files": len(files), "image_size": size,
                "channels": channels, "bad": [[files[i][0], reason] for i, reason in bad],
                "sum": sums.tolist(), "sumsq": sumsq.tolist(), "pixels": int(keep.sum()) * size * size,
                "seconds": round(time.perf_counter() - t0, 3)}
        (tmp / "info.json").write_text(json.dumps(info))
        for name in ("images.npy", "labels.npy", "info.json"):
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def compact(images: np.ndarray, keep: np.ndarray, path: Path) -> np.ndarray:
    """The rows of `images` marked in `keep`, written in place of `path`."""
    out_path = path.with_suffix(".compact.npy")
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.uint8, shape=(int(keep.sum()), *images.shape[1:]))
    rows = np.flatnonzero(keep)
    for start in range(0, len(rows), 4096):
        part = rows[start:start + 4096]
        out[start:start + len(part)] = images[part]
    out.flush()
    del images
    os.replace(out_path, path)
    return out


def decode_all(files: list[tuple[str, int]], size: int, channels: int, out: np.ndarray, workers: int,
               what: str, resize_to: int = 0) -> tuple[list[tuple[int, str]], np.ndarray, np.ndarray]:
    """Decode every file into its row of `out` with a pool of `workers` threads (torchvision's decoders
    release the GIL); returns the bad rows with their reasons and the per-channel pixel sums."""
    from xaicli.viz.counter import Counter

    def work(start: int) -> tuple[list[tuple[int, str]], np.ndarray, np.ndarray, int]:
        stop = min(start + CHUNK, len(files))
        bad = []
        for i in range(start, stop):
            try:
                out[i] = decode_file(files[i][0], size, channels, resize_to).numpy()
            except BadImage as exc:
                bad.append((i, str(exc)))  # its row stays zero: it adds nothing to the sums
        rows = np.asarray(out[start:stop]).reshape(stop - start, channels, -1)
        s = rows.sum((0, 2), dtype=np.int64).astype(np.float64)
        wide = rows.astype(np.uint16)
        q = np.einsum("ncp,ncp->c", wide, wide, dtype=np.int64).astype(np.float64)
        return bad, s, q, stop - start

    bad: list[tuple[int, str]] = []
    sums, sumsq = np.zeros(channels, np.float64), np.zeros(channels, np.float64)
    with Counter(len(files), f"decoding {what}") as counter, ThreadPoolExecutor(max(1, workers)) as pool:
        for part_bad, s, q, done in pool.map(work, range(0, len(files), CHUNK)):
            bad += part_bad
            sums += s
            sumsq += q
            counter.advance(done)
    return sorted(bad), sums, sumsq
