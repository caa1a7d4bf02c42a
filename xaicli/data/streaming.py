"""Training batches streamed from a decoded cache file that is not kept in memory.

An epoch's order: the file's rows cut into contiguous blocks (about BLOCK_BYTES each), the blocks
permuted by (seed, epoch), taken a window of blocks at a time; each window is read with plain file
reads (sequential, and outside the process's resident memory, unlike a memory map) and its images
permuted by (seed, epoch, window). Batches are consecutive runs of that order, so batch `step` is fixed
by (seed, epoch, step): a resumed epoch starts at its window without reading the ones before, and DDP
ranks take their slices of the same global batches. A background thread reads ahead into pinned memory
(on CUDA) while the device works; the augmentation is the same as the device-resident stream's.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from xaicli.data.augment import Augment, generator

BLOCK_BYTES = 256 * 2**10  # a block: rows read in one go
WINDOW_MIN, WINDOW_MAX = 16 * 2**20, 256 * 2**20  # bytes of blocks shuffled together
PREFETCH = 3  # batches read ahead


def npy_layout(path: Path) -> tuple[int, tuple[int, ...]]:
    """(byte offset of the data, shape) of a uint8 C-order .npy file (mapping it reads nothing)."""
    mapped = np.load(path, mmap_mode="r")
    if mapped.dtype != np.uint8 or not mapped.flags.c_contiguous:
        raise ValueError(f"{path}: expected a C-order uint8 array, found {mapped.dtype}")
    offset, shape = int(mapped.offset), tuple(mapped.shape)
    del mapped
    return offset, shape


class CacheStream:
    """Batches of (uint8 images, labels) on `device` from the cache file at `path`, one epoch at a time."""

    def __init__(self, path: Path, y: torch.Tensor, batch_size: int, device: torch.device, *, shuffle: bool = True,
                 drop_last: bool = True, seed: int = 0, rank: int = 0, world_size: int = 1,
                 augment: Augment | None = None, memory_mb: int = 0) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by {world_size} processes")
        self.path, self.device = Path(path), device
        self.offset, self.shape = npy_layout(self.path)
        self.n = self.shape[0]
        if len(y) != self.n:
            raise ValueError(f"{path}: {self.n} images but {len(y)} labels")
        self.y = y.cpu()
        self.batch_size, self.shuffle, self.drop_last, self.seed = batch_size, shuffle, drop_last, seed
        self.rank, self.world_size = rank, world_size
        self.augment = augment or Augment()
        self.row_bytes = int(np.prod(self.shape[1:]))
        self.block_rows = max(1, BLOCK_BYTES // self.row_bytes)
        budget = memory_mb * 2**20 if memory_mb else 2**31
        window = min(max(budget // 8, WINDOW_MIN), WINDOW_MAX)
        self.window_blocks = max(1, window // (self.block_rows * self.row_bytes))

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def windows(self, epoch: int) -> list[np.ndarray]:
        """The epoch's windows: each an array of block indices, in reading order."""
        blocks = -(-self.n // self.block_rows)
        order = (torch.randperm(blocks, generator=generator(self.seed, epoch, 1)) if self.shuffle
                 else torch.arange(blocks)).numpy()
        return [np.sort(order[i:i + self.window_blocks]) for i in range(0, blocks, self.window_blocks)]

    def window_rows(self, blocks: np.ndarray) -> np.ndarray:
        return np.concatenate([np.arange(b * self.block_rows, min((b + 1) * self.block_rows, self.n))
                               for b in blocks])

    def order(self, epoch: int) -> np.ndarray:
        """The row of every position of the epoch (what the batches hold, in order): for tests and tools."""
        parts = []
        for w, blocks in enumerate(self.windows(epoch)):
            rows = self.window_rows(blocks)
            parts.append(rows[self._window_perm(epoch, w, len(rows))])
        return np.concatenate(parts)

    def _window_perm(self, epoch: int, w: int, n: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(n)
        return torch.randperm(n, generator=generator(self.seed, epoch, 2, w)).numpy()

    def _read(self, fh, blocks: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """A window's images (in row order) and their rows, read block by block."""
        rows = self.window_rows(blocks)
        buf = np.empty((len(rows), *self.shape[1:]), dtype=np.uint8)
        view = memoryview(buf.reshape(-1))
        at = 0
        for b in blocks:
            first, last = b * self.block_rows, min((b + 1) * self.block_rows, self.n)
            size = (last - first) * self.row_bytes
            fh.seek(self.offset + first * self.row_bytes)
            if fh.readinto(view[at:at + size]) != size:
                raise OSError(f"{self.path}: the cache file is shorter than its header says")
            at += size
        return torch.from_numpy(buf), rows

    def _batches(self, epoch: int, start_step: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        """(this process's images, labels, global batch size) of each step from `start_step`, on the host."""
        bs, steps, start = self.batch_size, len(self), start_step * self.batch_size
        step, pos = start_step, 0
        x_left, y_left = None, None  # the start of a batch that the next window completes
        with open(self.path, "rb", buffering=0) as fh:
            for w, blocks in enumerate(self.windows(epoch)):
                size = sum(min((b + 1) * self.block_rows, self.n) - b * self.block_rows for b in blocks)
                if pos + size <= start:  # before the resume point: not read
                    pos += size
                    continue
                images, rows = self._read(fh, blocks)
                perm = torch.from_numpy(self._window_perm(epoch, w, len(rows)))[max(0, start - pos):]
                pos += size
                x_new = images.index_select(0, perm)
                y_new = self.y[torch.from_numpy(rows)[perm]]
                del images
                used = 0
                if x_left is not None:
                    used = min(bs - len(x_left), len(x_new))
                    x_left, y_left = torch.cat([x_left, x_new[:used]]), torch.cat([y_left, y_new[:used]])
                    if len(x_left) < bs:
                        continue
                    yield self._mine(x_left), self._mine(y_left), bs
                    step, x_left, y_left = step + 1, None, None
                while step < steps and len(x_new) - used >= bs:
                    yield self._mine(x_new[used:used + bs]), self._mine(y_new[used:used + bs]), bs
                    used, step = used + bs, step + 1
                if step < steps and used < len(x_new):
                    x_left, y_left = x_new[used:].clone(), y_new[used:].clone()
        if step < steps and x_left is not None:  # drop_last false: the last, partial batch
            yield self._mine(x_left), self._mine(y_left), len(x_left)

    def _mine(self, t: torch.Tensor) -> torch.Tensor:
        return t.tensor_split(self.world_size)[self.rank] if self.world_size > 1 else t

    def _produce(self, epoch: int, start_step: int, out: queue.Queue, stop: threading.Event) -> None:
        pin = self.device.type == "cuda"
        try:
            for xb, yb, n in self._batches(epoch, start_step):
                item = (xb.pin_memory() if pin else xb, yb, n)
                while not stop.is_set():
                    try:
                        out.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(None)  # the end: the consumer checks that it came after the last step
        except BaseException as exc:  # handed to the consumer, which raises it
            out.put(exc)

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        out: queue.Queue = queue.Queue(maxsize=PREFETCH)
        stop = threading.Event()
        reader = threading.Thread(target=self._produce, args=(epoch, start_step, out, stop), daemon=True,
                                  name="xai-cache-reader")
        reader.start()
        try:
            for step in range(start_step, len(self)):
                item = out.get()
                if isinstance(item, BaseException):
                    raise item
                if item is None:
                    raise RuntimeError(f"{self.path}: the reader ended at step {step} of {len(self)}")
                xb, yb, n = item
                xb, yb = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
                if self.augment.active:
                    xb = self.augment(xb, n, (self.seed, epoch, step), self._mine)
                yield xb, yb
        finally:
            stop.set()
            while reader.is_alive():
                try:
                    out.get(timeout=0.05)
                except queue.Empty:
                    pass
            reader.join()
