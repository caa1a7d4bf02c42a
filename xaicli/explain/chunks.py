"""Split multi-pass work into chunks sized from a memory budget; on out-of-memory halve and retry.

A user never tunes an `internal_batch_size`: the chunk (images per forward + backward pass) is the
budget divided by an estimate of one image's activation memory, measured by one probe pass, and a
CUDA out-of-memory error halves the chunk and repeats the failed part only.
"""

from __future__ import annotations

import logging
from typing import Callable, TypeVar

import torch
from torch import nn

from xaicli.errors import XaiError
from xaicli.explain.core import eval_mode, is_scripted, parameters_frozen
from xaicli.explain.layers import module_calls

log = logging.getLogger("xaicli.explain")
R = TypeVar("R")
DEFAULT_BUDGET_MB = 1024.0
# One image's forward + backward pass, as a multiple of its modules' outputs (activation_profile). Measured
# on torchvision models at 224 x 224 in float32 on the CPU: autograd saves 0.46x (ConvNeXt-T) to 0.95x
# (MobileNetV3-S) of those outputs per image, and the process's peak memory per image in an integrated-
# gradients chunk is 0.65x (ConvNeXt-T), 0.9x (ResNet-50) and 0.97x (ViT-B/16) of them; 1.5 leaves half
# again for the gradients in flight and the allocator. (It was 3: ResNet-50 then ran 2 images per pass
# under the default 1 GiB, and 2 images per pass run integrated gradients about 10% slower than 5.)
ACTIVATION_FACTOR = 1.5
CPU_TENSOR_CAP = 16 * 2**20  # bytes: the largest activation of a chunk on the CPU (see chunk_size)


def activation_profile(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    """(all activations, the largest one) of one image's forward pass in bytes, from one probe pass."""
    if is_scripted(model):
        return saved_profile(model, example)
    sizes = [example[:1].numel() * example.element_size()]
    sizes += [c.output.numel() * c.output.element_size() for c in module_calls(model, example, leaves_only=True)]
    return sum(sizes), max(sizes)


def saved_profile(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    """activation_profile for a model whose modules cannot be hooked (TorchScript): the tensors one
    image's forward pass saves for its backward pass, counted as autograd saves them."""
    sizes = [example[:1].numel() * example.element_size()]

    def pack(t: torch.Tensor) -> torch.Tensor:
        sizes.append(t.numel() * t.element_size())
        return t

    x = example[:1].detach().requires_grad_(True)
    with parameters_frozen(model), eval_mode(model), torch.enable_grad(), \
            torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(sizes), max(sizes)


def bytes_per_image(model: nn.Module, example: torch.Tensor) -> int:
    """Estimated memory of one image's forward + backward pass: the probe's activation sizes x ACTIVATION_FACTOR."""
    return max(1, activation_profile(model, example)[0] * ACTIVATION_FACTOR)


def chunk_size(model: nn.Module, example: torch.Tensor, budget_mb: float | None = None,
               chunk: int | None = None) -> int:
    """Images per pass: `chunk` when given, else the budget over the per-image estimate (at least 1).

    On the CPU the chunk is also capped so that no single activation exceeds CPU_TENSOR_CAP: larger
    tensors are served by fresh mmap'd pages on every allocation. In interleaved runs on a shared
    2-core CPU, capped chunks ran IG up to 2x faster than one large batch, but on a heavily loaded
    machine they also measured slower (bench/explain.py); the cap is a default, not a proven optimum.
    """
    if chunk is not None:
        return max(1, int(chunk))
    total, largest = activation_profile(model, example)
    budget = (DEFAULT_BUDGET_MB if budget_mb is None else budget_mb) * 2**20
    size = max(1, int(budget // max(1, total * ACTIVATION_FACTOR)))
    if example.device.type == "cpu":
        size = min(size, max(1, CPU_TENSOR_CAP // largest))
    return size


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc)


def run_chunked(total: int, chunk: int, compute: Callable[[int, int], R],
                consume: Callable[[int, int, R], None]) -> int:
    """Call compute(start, stop) over [0, total) in chunks and hand each result to consume.

    On an out-of-memory error the chunk is halved and the failed range computed again; consume only
    sees complete results, so a retry never counts anything twice. Returns the chunk that worked.
    """
    start = 0
    chunk = max(1, int(chunk))
    while start < total:
        stop = min(total, start + chunk)
        try:
            result = compute(start, stop)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if chunk == 1:
                raise XaiError("out of memory with a single image per pass; free device memory, "
                               "explain fewer images (-n) or run on the CPU") from None
            chunk = max(1, (stop - start) // 2)
            log.warning("out of memory with %d images per pass; retrying with %d", stop - start, chunk)
            continue
        consume(start, stop, result)
        start = stop
    return chunk


def sum_per_image(out: torch.Tensor, per_image: int, chunk: int,
                  compute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Add the rows of every (image, sub-item) pair into out[image] and return out.

    The len(out) * per_image items are taken image-major (item k is image k // per_image, sub-item
    k % per_image), so a chunk's images are contiguous; compute(images, subitems) returns one row per
    item (the shape of out[0]), and run_chunked sizes the chunks and retries them on out-of-memory.
    """

    def rows(start: int, stop: int) -> torch.Tensor:
        k = torch.arange(start, stop, device=out.device)
        return compute(k // per_image, k % per_image)

    def add(start: int, stop: int, result: torch.Tensor) -> None:
        out.index_add_(0, torch.arange(start, stop, device=out.device) // per_image, result)

    run_chunked(len(out) * per_image, chunk, rows, add)
    return out
