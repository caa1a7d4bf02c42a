"""Gradient methods: saliency, input x gradient, guided backpropagation."""

from __future__ import annotations

import torch
from torch import nn

from xaicli.explain.chunks import chunk_size, run_chunked
from xaicli.explain.core import expand_target, hooks, input_gradient, parameters_frozen
from xaicli.explain.registry import register_method


def gradients(model: nn.Module, inputs: torch.Tensor, target, budget_mb: float | None = None,
              chunk: int | None = None) -> torch.Tensor:
    """d score / d input for every image, in chunks that fit the memory budget."""
    target = expand_target(target, len(inputs), inputs.device)
    out = torch.empty_like(inputs)
    with parameters_frozen(model):
        size = chunk_size(model, inputs, budget_mb, chunk)

        def compute(a: int, b: int) -> torch.Tensor:
            return input_gradient(model, inputs[a:b], None if target is None else target[a:b])

        def consume(a: int, b: int, g: torch.Tensor) -> None:
            out[a:b] = g

        run_chunked(len(inputs), size, compute, consume)
    return out


@register_method("saliency", signed=False)
def saliency(model, inputs, target=None, budget_mb=None, chunk=None):
    """|d score / d input| (Simonyan et al. 2014); Captum's Saliency with abs=True."""
    return gradients(model, inputs, target, budget_mb, chunk).abs()


@register_method("input_x_gradient", signed=True)
def input_x_gradient(model, inputs, target=None, budget_mb=None, chunk=None):
    """input * d score / d input (Shrikumar et al. 2016)."""
    return inputs * gradients(model, inputs, target, budget_mb, chunk)


class _InplaceOff:
    """Turn off `inplace` on ReLUs for the block (full backward hooks refuse in-place outputs)."""

    def __init__(self, relus: list[nn.ReLU]) -> None:
        self.relus = relus
        self.flags = [r.inplace for r in relus]

    def __enter__(self):
        for r in self.relus:
            r.inplace = False

    def __exit__(self, *exc):
        for r, f in zip(self.relus, self.flags, strict=True):
            r.inplace = f


def _positive_grad_hook(module, grad_input, grad_output):
    return tuple(None if g is None else torch.relu(g) for g in grad_input)


def guided_gradients(model: nn.Module, inputs: torch.Tensor, target, budget_mb=None, chunk=None):
    """Gradients where every nn.ReLU also passes only positive gradients backwards
    (Springenberg et al. 2015). Functional relu calls are not modified, as in Captum."""
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    with _InplaceOff(relus), hooks([lambda r=r: r.register_full_backward_hook(_positive_grad_hook)
                                    for r in relus]):
        return gradients(model, inputs, target, budget_mb, chunk)


@register_method("guided_backprop", signed=True, hooks=True)
def guided_backprop(model, inputs, target=None, budget_mb=None, chunk=None):
    return guided_gradients(model, inputs, target, budget_mb, chunk)
