"""Device-resident batching: uint8 images live on the device, each batch is normalised there.

The order of each epoch is a permutation drawn from (seed, epoch), and the augmentation of each
step from (seed, epoch, step), so an epoch can be replayed from any step after a resume, and each
DDP rank can take its own slice of every global batch without talking to the others.
"""

from __future__ import annotations

from typing import Iterator

import torch


def _generator(*parts: int) -> torch.Generator:
    seed = 0
    for p in parts:
        seed = (seed * 1_000_003 + int(p) + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


def fits_on_device(x: torch.Tensor, device: torch.device, setting: str) -> bool:
    """`auto`: keep the data on the device when it takes under a quarter of the free memory."""
    if setting != "auto":
        return setting == "true"
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return x.numel() * x.element_size() < free // 4


class Normalizer(torch.nn.Module):
    """uint8 (N, C, H, W) -> float normalised by the training set's per-channel mean and std."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("scale", 1.0 / (255.0 * torch.tensor(std).view(1, -1, 1, 1)), persistent=False)
        self.register_buffer("shift", (torch.tensor(mean) / torch.tensor(std)).view(1, -1, 1, 1),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(-self.shift, x.float(), self.scale)  # out of place: a float input is left as is


def random_shift(x: torch.Tensor, max_shift: int, g: torch.Generator | None = None,
                 offsets: torch.Tensor | None = None) -> torch.Tensor:
    """Translate each image by its own integer offset in [-max_shift, max_shift], zero fill.

    `offsets` (N, 2) may be given; otherwise they are drawn from `g`."""
    n, _, h, w = x.shape
    s = max_shift
    if offsets is None:
        offsets = torch.randint(-s, s + 1, (n, 2), generator=g)
    offsets = offsets.to(x.device)
    padded = torch.nn.functional.pad(x, (s, s, s, s))
    rows = (torch.arange(h, device=x.device) + s).unsqueeze(0) + offsets[:, :1]  # (n, h)
    cols = (torch.arange(w, device=x.device) + s).unsqueeze(0) + offsets[:, 1:]  # (n, w)
    idx_n = torch.arange(n, device=x.device).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[idx_n, rows.unsqueeze(2), cols.unsqueeze(1)]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


class BatchStream:
    """Batches of (uint8 images, labels) on `device`, one epoch at a time."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device, *,
                 shuffle: bool = True, drop_last: bool = True, shift: int = 0, hflip: bool = False, seed: int = 0,
                 resident: bool = True, rank: int = 0, world_size: int = 1) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by {world_size} processes")
        self.device = device
        store = device if resident else torch.device("cpu")
        self.x = x.to(store)
        self.y = y.to(store)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.shift, self.hflip, self.seed = shift, hflip, seed
        self.rank, self.world_size = rank, world_size
        self.local_batch = batch_size // world_size

    def __len__(self) -> int:
        n = len(self.x)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        order = torch.randperm(n, generator=_generator(self.seed, epoch)) if self.shuffle else torch.arange(n)
        order = order.to(self.x.device)
        for step in range(start_step, len(self)):
            chunk = order[step * self.batch_size: (step + 1) * self.batch_size]
            mine = self._mine(chunk)
            xb = self.x.index_select(0, mine)
            yb = self.y.index_select(0, mine)
            if self.shift or self.hflip:
                # drawn for the whole global batch, then sliced: the same images get the same
                # augmentation whatever the number of processes
                g = _generator(self.seed, epoch, step, 7)
                if self.shift:
                    offsets = torch.randint(-self.shift, self.shift + 1, (len(chunk), 2), generator=g)
                    xb = random_shift(xb, self.shift, offsets=self._mine(offsets))
                if self.hflip:
                    flip = self._mine(torch.rand(len(chunk), generator=g) < 0.5)
                    xb = torch.where(flip.to(xb.device).view(-1, 1, 1, 1), xb.flip(3), xb)
            yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)

    def _mine(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global-batch tensor."""
        return t.tensor_split(self.world_size)[self.rank] if self.world_size > 1 else t


def eval_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int,
                 device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The whole split in order, the last batch partial."""
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size].to(device, non_blocking=True), y[i:i + batch_size].to(device, non_blocking=True)
