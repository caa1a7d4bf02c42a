"""`xai train --dry-run`: what would be trained, without training it."""

from __future__ import annotations


def dry_run_summary(cfg) -> str:
    from xaicli.data.base import split_counts
    from xaicli.data.registry import load_run_data
    from xaicli.tasks import build_task
    from xaicli.training.device import resolve_device

    device = resolve_device(cfg.train.device)
    data = load_run_data(cfg)
    n, bs = len(data.x_train), cfg.data.batch_size
    steps = n // bs if cfg.data.drop_last else -(-n // bs)
    task = build_task(cfg, data, device, total_steps=max(2, steps * cfg.train.epochs))
    lines = [f"dataset   {data.provenance.get('dataset')} ({data.provenance.get('source')}): "
             f"{split_counts(data)}, shape {tuple(data.shape)}",
             f"device    {device}"]
    for name, module in task.modules.items():
        params = sum(p.numel() for p in module.parameters())
        lines.append(f"{name:<9} {cfg.model.name}: {params:,} parameters")
    lines.append(f"schedule  {cfg.train.epochs} epochs x {steps} steps of {cfg.data.batch_size} images")
    return "\n".join(lines)
