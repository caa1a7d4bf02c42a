"""Memory stays flat over many chunks (issue 14, point 6): 10,000 small images explained in one call,
chunk after chunk, must not grow resident memory the way a kept hook, activation or autograd graph per
chunk would (the last feature map alone is 3.7 MB per chunk here, 370 MB over the run). The model records the process's
resident set size at every forward pass; the last reading may exceed the one after the first chunks
by at most MARGIN."""

from __future__ import annotations

import gc
import os

import pytest
import torch
from torch import nn

from xaicli.explain.registry import resolve

IMAGES, CHUNK = 10_000, 100
MARGIN = 64 * 2**20  # bytes: allocator noise stays well below; keeping one feature map per chunk gives ~370 MB
SIDE = 24


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5)).eval()


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RecordsMemory(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.readings = inner, []

    def forward(self, x):
        self.readings.append(resident_bytes())
        return self.inner(x)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc (Linux)")
@pytest.mark.parametrize("method,params", [("gradcam", {}), ("integrated_gradients", {"n_steps": 2}),
                                           ("saliency", {})])
def test_resident_memory_stays_flat_over_many_chunks(method, params):
    model = RecordsMemory(small_cnn()).eval()
    x = torch.randn(IMAGES, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(0))
    target = torch.arange(IMAGES) % 5
    gc.collect()
    maps = resolve(method)(model, x, target, chunk=CHUNK, **params)
    assert maps.shape == x.shape
    readings = model.readings
    assert len(readings) >= IMAGES // CHUNK, "the images were not explained chunk by chunk"
    settled = readings[len(readings) // 10]  # after the first chunks: allocator pools warmed up
    growth = max(readings[len(readings) // 10:]) - settled
    assert growth <= MARGIN, f"{method}: resident memory grew by {growth / 2**20:.0f} MiB over {len(readings)} passes"
