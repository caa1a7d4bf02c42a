"""The contract's helpers: targets, input gradients, hooks in a `with` block, the model left as found."""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from xaicli.errors import ConfigError
from xaicli.models import has_conv2d

Target = "int | torch.Tensor | None"


def expand_target(target, n: int, device: torch.device) -> torch.Tensor | None:
    """An int, a (n,) tensor or None (a model with one output per image) as a (n,) long tensor or None."""
    if target is None:
        return None
    if isinstance(target, int):
        return torch.full((n,), target, dtype=torch.long, device=device)
    target = torch.as_tensor(target, device=device).long().reshape(-1)
    if target.numel() == 1:
        return target.expand(n).clone()
    if target.numel() != n:
        raise ValueError(f"target holds {target.numel()} classes for {n} inputs")
    return target


def check_target(target: torch.Tensor, classes: int) -> None:
    """A ConfigError naming the number of classes when a target is negative or not below it."""
    if target.numel() == 0:
        return
    lo, hi = torch.stack([target.min(), target.max()]).tolist()
    if lo < 0 or hi >= classes:
        bad = lo if lo < 0 else hi
        raise ConfigError(f"target class {bad} is out of range: the model gives {classes} classes (0..{classes - 1})")


def select(output: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """The score explained, one per row: output[i, target[i]], or output itself when it is (N,)."""
    if target is None:
        if output.ndim == 2 and output.shape[1] == 1:
            return output[:, 0]
        if output.ndim != 1:
            raise ValueError(f"the model returns {tuple(output.shape)}; give a target class")
        return output
    check_target(target, output.shape[1])
    return output.gather(1, target.view(-1, 1)).squeeze(1)


@contextlib.contextmanager
def parameters_frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Parameters stop requiring gradients inside the block (no weight gradients are built);
    every flag is restored afterwards, even on error. The model's train/eval mode is not touched."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


MODE_DEPENDENT = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)


@contextlib.contextmanager
def model_as_found(model: nn.Module, method: str) -> Iterator[nn.Module]:
    """Run a method on a model in whatever mode the caller left it (not switched to eval), with a
    one-line warning when that is training mode with batch norm or dropout: the maps then depend on
    how the images are chunked (batch statistics, random masks). Batch-norm running statistics, which
    every training-mode forward pass updates, are put back afterwards."""
    training = [m for m in model.modules() if m.training and isinstance(m, MODE_DEPENDENT)]
    if training:
        warnings.warn(f"{method}: the model is in training mode with batch norm or dropout, so its maps depend on "
                      "how the images are chunked; call model.eval() first to explain the model as it predicts",
                      UserWarning, stacklevel=4)
    norms = [m for m in training if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [{k: v.clone() for k, v in m.named_buffers(recurse=False)} for m in norms]
    try:
        yield model
    finally:
        with torch.no_grad():
            for m, buffers in zip(norms, saved, strict=True):
                for k, v in buffers.items():
                    getattr(m, k).copy_(v)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode inside the block; every module's own mode is restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


@contextlib.contextmanager
def hooks(register: Sequence[Callable[[], torch.utils.hooks.RemovableHandle]]) -> Iterator[None]:
    """Install hooks (each callable registers one and returns its handle); remove them all on exit."""
    handles = []
    try:
        for reg in register:
            handles.append(reg())
        yield
    finally:
        for h in handles:
            h.remove()


def input_layout(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The inputs as the model's passes run fastest: channels-last on a CPU for a model with 2-D convolutions
    (oneDNN's convolutions then keep that layout through the network; ResNet-50 at 224 x 224 runs a forward and
    backward pass about 20% faster, bench/explain.py --cam), as they are otherwise. Only the inputs change layout,
    never the model's weights; the values and the gradients' values are the same."""
    if inputs.device.type == "cpu" and inputs.ndim == 4 and inputs.shape[1] > 1 and has_conv2d(model):
        return inputs.contiguous(memory_format=torch.channels_last)
    return inputs


def input_gradient(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """d score / d input for a batch, with the graph freed before returning."""
    x = input_layout(model, inputs.detach()).requires_grad_(True)
    with torch.enable_grad():
        score = select(model(x), target)
        (grad,) = torch.autograd.grad(score.sum(), x)
    return grad


def upsample(maps: torch.Tensor, like: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """(N, 1, h, w) maps resized to the inputs' height and width and repeated over their channels."""
    out = nn.functional.interpolate(maps, size=like.shape[2:], mode=mode,
                                    **({"align_corners": False} if mode in ("bilinear", "bicubic") else {}))
    return out.expand(-1, like.shape[1], -1, -1).contiguous()


def generator_for(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


def is_scripted(model: nn.Module) -> bool:
    """A TorchScript model (torch.jit.script or trace, torch.jit.load): module hooks cannot be installed."""
    return isinstance(model, torch.jit.ScriptModule)


def refuse_scripted(model: nn.Module, what: str) -> None:
    """A one-line ConfigError for a method that needs module hooks on a TorchScript model."""
    if is_scripted(model):
        raise ConfigError(f"{what} needs module hooks, which TorchScript models do not support; use a "
                          "gradient-free or input-gradient method (occlusion, saliency, integrated_gradients), "
                          "or explain the Python model")
