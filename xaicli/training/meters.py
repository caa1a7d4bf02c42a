"""Step metrics that stay on the device: summed there every step, read by the host only at log steps.

A step returns per-step sums (loss x images, correct, count, ...) as device tensors. `DeviceMeters`
adds them to an epoch sum and a log-window sum with one foreach launch each, and remembers the first
step whose loss was not finite, all without a host sync; `reduce_means` turns sums into means (over
all ranks under DDP) when the loop decides to look.
"""

from __future__ import annotations

import math

from xaicli.errors import XaiError


def task_loss_key(out: dict) -> str:
    return "loss" if "loss" in out else next(k for k in out if "loss" in k)


class DeviceMeters:
    def __init__(self, device, first_step: int) -> None:
        import torch

        self.torch = torch
        self.keys: list[str] = []
        self.sums: list = []
        self.window: list = []
        self.last: dict = {}  # the latest step's outputs, for naming a non-finite loss term
        self.bad_step = torch.full((), -1, dtype=torch.long, device=device)  # first non-finite step, or -1
        self.step = torch.full((), first_step - 1, dtype=torch.long, device=device)

    def add(self, out: dict) -> None:
        torch = self.torch
        if not self.keys:
            self.keys = list(out)
            self.sums = [torch.zeros_like(out[k]) for k in self.keys]
            self.window = [torch.zeros_like(out[k]) for k in self.keys]
        values = [out[k] for k in self.keys]
        torch._foreach_add_(self.sums, values)
        torch._foreach_add_(self.window, values)
        self.step += 1
        ok = torch.isfinite(out[task_loss_key(out)])
        self.bad_step = torch.where((self.bad_step < 0) & ~ok, self.step, self.bad_step)
        self.last = out

    def window_means(self, dist=None) -> dict[str, float]:
        """Means over the steps since the last call (a host sync), then a fresh window."""
        values = reduce_means(dict(zip(self.keys, self.window, strict=True)), dist)
        if self.window:
            self.torch._foreach_zero_(self.window)
        return values

    def snapshot(self, dist=None) -> dict:
        """The epoch's partial sums and the open log window (summed over ranks under DDP), on the CPU,
        for a checkpoint saved inside an epoch; `restore` continues them after a resume."""
        torch = self.torch
        parts = {"sums": self.sums, "window": self.window}
        if dist is not None and self.keys:
            parts = {k: list(dist.all_reduce_sum(torch.stack(v)).unbind()) for k, v in parts.items()}
        return {"keys": list(self.keys), **{k: [t.detach().cpu().clone() for t in v] for k, v in parts.items()}}

    def restore(self, snapshot: dict) -> None:
        """Continue from a snapshot's sums (checked by xaicli/training/checkpoint_checks.py)."""
        device = self.step.device
        self.keys = list(snapshot["keys"])
        self.sums = [t.to(device).clone() for t in snapshot["sums"]]
        self.window = [t.to(device).clone() for t in snapshot["window"]]

    def epoch_means(self, dist=None) -> dict[str, float]:
        return reduce_means(dict(zip(self.keys, self.sums, strict=True)), dist)

    def check_finite(self, epoch: int, dist=None) -> None:
        """Stop with exit 1 if any step's loss was NaN or Inf, naming the step and the loss term.
        Under DDP every rank stops together if any rank saw one."""
        step = int(self.bad_step)
        if dist is not None and dist.max_int(1 if step >= 0 else 0) and step < 0:
            raise XaiError(f"non-finite loss on another process in epoch {epoch + 1}; training stopped")
        if step < 0:
            return
        terms = [k for k, v in self.last.items() if "loss" in k and not math.isfinite(float(v))]
        raise XaiError(f"non-finite loss at epoch {epoch + 1} step {step + 1} "
                       f"(term: {', '.join(terms) or task_loss_key(self.last)}); training stopped, "
                       f"the last good checkpoint is kept; try a lower optim.lr or optim.clip_grad_norm")


def reduce_means(sums: dict, dist) -> dict[str, float]:
    """Sums -> means over the images seen ("count"); all-reduced over ranks under DDP."""
    import torch

    if not sums:
        return {}
    keys = sorted(sums)
    vec = torch.stack([sums[k].float() for k in keys])
    if dist is not None:
        vec = dist.all_reduce_sum(vec)
    values = dict(zip(keys, vec.tolist(), strict=True))
    count = values.pop("count", None)
    if count:
        correct = values.pop("correct", None)
        out = {k: v / count for k, v in values.items()}
        if correct is not None:
            out["acc"] = correct / count
        return out
    return values
