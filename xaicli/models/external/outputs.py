"""Models whose forward returns an object or a dict with `logits` (Hugging Face style) are used through
their logits: a small wrapper module, added only when a probe forward shows it is needed."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


def logits_of(out):
    """The logits tensor inside a model's output: the tensor itself, out['logits'] or out.logits."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping) and "logits" in out:
        return out["logits"]
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    raise TypeError(f"the model returned {type(out).__name__}, neither a tensor nor an object with logits")


def output_kind(out) -> str:
    """'tensor', 'dict' (out['logits']) or 'attribute' (out.logits), as logits_of reads it."""
    if isinstance(out, torch.Tensor):
        return "tensor"
    logits_of(out)  # raises when there are none
    return "dict" if isinstance(out, Mapping) and "logits" in out else "attribute"


class LogitsOutput(nn.Module):
    """Wraps a model so that forward returns its logits tensor. The wrapped model is `inner`."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return logits_of(self.inner(x))


@torch.no_grad()
def probe(model: nn.Module, input_shape: tuple[int, ...]):
    """One forward pass of a single zero image in eval mode (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        return model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
