"""DDP under torchrun: one process per GPU (or CPU process with gloo), the global batch split over ranks.

`maybe_distributed` yields None in a plain process, so single-process training never touches
torch.distributed. Under torchrun (WORLD_SIZE > 1) it initialises the process group, picks this
rank's device, and tears the group down afterwards.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator


@dataclass
class Dist:
    rank: int
    local_rank: int
    world_size: int
    device: object

    def wrap(self, module):
        from torch.nn.parallel import DistributedDataParallel as DDP

        if not any(p.requires_grad for p in module.parameters()):
            return module
        import inspect

        ids = [self.device.index] if self.device.type == "cuda" else None
        # rank 0's buffers (batch-norm statistics) reach the other ranks before each forward; newer
        # torch names this forward_sync_buffers and warns about the old name
        sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters
                else "broadcast_buffers")
        return DDP(module, device_ids=ids, **{sync: True})

    def all_reduce_sum(self, tensor):
        import torch.distributed as td

        tensor = tensor.clone()
        td.all_reduce(tensor, op=td.ReduceOp.SUM)
        return tensor

    def max_int(self, value: int) -> int:
        import torch
        import torch.distributed as td

        t = torch.tensor([value], dtype=torch.long, device=self.device)
        td.all_reduce(t, op=td.ReduceOp.MAX)
        return int(t.item())

    def barrier(self) -> None:
        import torch.distributed as td

        td.barrier()

    def broadcast_run(self, make: Callable[[], tuple]) -> tuple:
        """Rank 0 creates (or checks) the run directory; every rank learns its path."""
        import torch.distributed as td

        box: list = [None]
        error = None
        if self.rank == 0:
            try:
                box = [("ok", make())]
            except Exception as exc:  # tell the other ranks, then fail here too
                box, error = [("error", str(exc))], exc
        td.broadcast_object_list(box, src=0)
        if error is not None:
            raise error
        status, value = box[0]
        if status == "error":
            from xaicli.errors import XaiError

            raise XaiError(f"rank 0 failed to prepare the run: {value}")
        return value


@contextmanager
def maybe_distributed(cfg) -> Iterator[Dist | None]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield None
        return
    import torch
    import torch.distributed as td

    from xaicli.training.device import resolve_device

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    base = resolve_device(cfg.train.device)
    if base.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    td.init_process_group(backend=backend)
    try:
        yield Dist(rank, local_rank, world, device)
        td.barrier()  # leave together: no rank tears its group down while another still talks to it
    finally:
        import gc

        gc.collect()  # free DDP's reducers (they hold the group) while the group still exists
        td.destroy_process_group()
