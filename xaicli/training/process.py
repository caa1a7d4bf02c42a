"""Process-wide settings of a training command: quiet ranks, torch's thread count, glibc's allocator.

They change the whole Python process, so the command line applies them; a Python caller of
`xaicli.train` opts in with `configure_process=True`.
"""

from __future__ import annotations

from xaicli.viz import console


def configure_process(cfg, dist=None) -> None:
    """Ranks other than 0 print nothing; `train.threads` sets torch's threads; CPU training keeps
    activation buffers in glibc's heap (xaicli/training/cpu_alloc.py)."""
    import torch

    from xaicli.training.device import resolve_device

    console.set_quiet(dist is not None and dist.rank != 0)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = dist.device if dist is not None else resolve_device(cfg.train.device)
    if device.type == "cpu":
        from xaicli.training.cpu_alloc import tune_allocator

        tune_allocator()
