"""The classifier head of a model from elsewhere: find it, read its class count, replace it (fine-tuning
on data with another number of classes), and freeze everything else."""

from __future__ import annotations

from torch import nn

# attribute names torchvision's classifiers use for their head (resnet/regnet/inception: fc; vgg, mobilenet,
# efficientnet, convnext, densenet, squeezenet: classifier; vit: heads; swin: head), tried in this order
HEAD_NAMES = ("fc", "classifier", "heads", "head")


def _is_head_layer(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or (isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1))


def find_head(model: nn.Module) -> str | None:
    """Dotted name of the layer that produces the class scores: the last Linear (or 1x1 convolution, as in
    squeezenet) inside the first of HEAD_NAMES the model has, else the model's last Linear; None if none."""
    for attr in HEAD_NAMES:
        sub = getattr(model, attr, None)
        if isinstance(sub, nn.Module):
            if _is_head_layer(sub):
                return attr
            inner = [name for name, m in sub.named_modules() if name and _is_head_layer(m)]
            if inner:
                return f"{attr}.{inner[-1]}"
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def head_outputs(model: nn.Module, head: str) -> int:
    layer = model.get_submodule(head)
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, leaf, new)


def resized_layer(layer: nn.Module, num_classes: int) -> nn.Module:
    """A freshly initialised copy of a head layer with `num_classes` outputs (same inputs, dtype, device)."""
    param = layer.weight
    if isinstance(layer, nn.Linear):
        new: nn.Module = nn.Linear(layer.in_features, num_classes, bias=layer.bias is not None)
    else:
        new = nn.Conv2d(layer.in_channels, num_classes, 1, bias=layer.bias is not None)
    return new.to(device=param.device, dtype=param.dtype)


def replace_head(model: nn.Module, head: str, num_classes: int) -> int:
    """Swap the layer at `head` for a new one with `num_classes` outputs; returns the old class count."""
    layer = model.get_submodule(head)
    old = head_outputs(model, head)
    _set_submodule(model, head, resized_layer(layer, num_classes))
    return old


def freeze_all_but(model: nn.Module, head: str) -> tuple[int, int]:
    """requires_grad False everywhere except the parameters under `head`; returns (trainable, total)."""
    prefix = head + "."
    trainable = total = 0
    for name, p in model.named_parameters():
        keep = name.startswith(prefix)
        p.requires_grad_(keep)
        total += p.numel()
        trainable += p.numel() if keep else 0
    return trainable, total
