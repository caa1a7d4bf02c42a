"""Device-resident batching: uint8 images live on the device, each batch is normalised there.

The order of each epoch is a permutation drawn from (seed, epoch), and the augmentation of each
step from (seed, epoch, step), so an epoch can be replayed from any step after a resume, and each
DDP rank can take its own slice of every global batch without talking to the others.
"""

from __future__ import annotations

import os
from typing import Iterator

import torch

from xaicli.data.augment import Augment, generator, random_shift

__all__ = ["Augment", "BatchStream", "Normalizer", "eval_batches", "fits_on_device", "make_train_stream",
           "random_shift"]


def fits_on_device(x: torch.Tensor, device: torch.device, setting: str, memory_mb: int = 0) -> bool:
    """`auto`: keep the data on the device when it takes under a quarter of a GPU's free memory, or, on
    a CPU, when it fits data.memory_mb (0: half of the available memory)."""
    if setting != "auto":
        return setting == "true"
    size = x.numel() * x.element_size()
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return size < free // 4
    if device.type != "cpu":
        return True
    return size <= (memory_mb * 2**20 if memory_mb else available_memory() // 2)


def available_memory() -> int:
    """Bytes of memory available to new allocations (MemAvailable on Linux; free pages elsewhere)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**62  # unknown: treat as plenty


class Normalizer(torch.nn.Module):
    """uint8 (N, C, H, W) -> float normalised by the training set's per-channel mean and std."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("scale", 1.0 / (255.0 * torch.tensor(std).view(1, -1, 1, 1)), persistent=False)
        self.register_buffer("shift", (torch.tensor(mean) / torch.tensor(std)).view(1, -1, 1, 1),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(-self.shift, x.float(), self.scale)  # out of place: a float input is left as is


class BatchStream:
    """Batches of (uint8 images, labels) on `device`, one epoch at a time."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device, *,
                 shuffle: bool = True, drop_last: bool = True, shift: int = 0, hflip: bool = False, seed: int = 0,
                 resident: bool = True, rank: int = 0, world_size: int = 1, crop_scale: float = 0.0) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by {world_size} processes")
        self.device = device
        store = device if resident else torch.device("cpu")
        self.x = x.to(store)
        self.y = y.to(store)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.augment, self.seed = Augment(shift, hflip, crop_scale), seed
        self.rank, self.world_size = rank, world_size
        self.local_batch = batch_size // world_size

    def __len__(self) -> int:
        n = len(self.x)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        order = torch.randperm(n, generator=generator(self.seed, epoch)) if self.shuffle else torch.arange(n)
        order = order.to(self.x.device)
        for step in range(start_step, len(self)):
            chunk = order[step * self.batch_size: (step + 1) * self.batch_size]
            mine = self._mine(chunk)
            xb = self.x.index_select(0, mine)
            yb = self.y.index_select(0, mine)
            if self.augment.active:
                xb = self.augment(xb, len(chunk), (self.seed, epoch, step), self._mine)
            yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)

    def _mine(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global-batch tensor."""
        return t.tensor_split(self.world_size)[self.rank] if self.world_size > 1 else t


def eval_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int,
                 device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The whole split in order, the last batch partial."""
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size].to(device, non_blocking=True), y[i:i + batch_size].to(device, non_blocking=True)


def make_train_stream(data, data_cfg, device: torch.device, seed: int, rank: int = 0, world_size: int = 1):
    """The training batches of `data`: resident on the device when they fit (data.device_resident,
    data.memory_mb), else streamed from the decoded cache file in shuffled blocks (folder and CSV
    data), else batched from host memory. Every kind follows (seed, epoch, step)."""
    resident = fits_on_device(data.x_train, device, data_cfg.device_resident, data_cfg.memory_mb)
    kwargs = dict(shuffle=True, drop_last=data_cfg.drop_last, seed=seed, rank=rank, world_size=world_size)
    augment = dict(shift=data_cfg.shift, hflip=data_cfg.hflip, crop_scale=data_cfg.random_resized_crop)
    if not resident and "train" in data.cache_files:
        from xaicli.data.streaming import CacheStream

        data.provenance["batches"] = "streamed from the decoded cache in shuffled blocks"
        return CacheStream(data.cache_files["train"], data.y_train, data_cfg.batch_size, device,
                           augment=Augment(**augment), memory_mb=data_cfg.memory_mb, **kwargs)
    data.provenance["batches"] = f"resident on {device.type}" if resident else "from host memory"
    return BatchStream(data.x_train, data.y_train, data_cfg.batch_size, device, resident=resident,
                       **augment, **kwargs)
