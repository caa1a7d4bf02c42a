"""Model registry. Each builder takes (in_shape, num_classes, **args) and returns a plain nn.Module."""

from __future__ import annotations

import inspect
import warnings

from xaicli.errors import ConfigError
from xaicli.registry import Registry, did_you_mean

MODELS = Registry("model", modules={
    "xaicli.models.classifiers": ("mlp", "cnn", "fast_cnn"),
    "xaicli.models.gans": ("mlp_gan", "dcgan", "cgan", "wgan_gp"),
}, required=("kind",))


def check_model_args(name: str, args: dict) -> None:
    """An unknown model name or `model.args` key is a config error with a suggestion (no model is built).
    A model from elsewhere (torchvision:, timm:, module:callable) is checked when it is built."""
    from xaicli.models.external.spec import is_external, parse_spec

    if is_external(name):
        spec = parse_spec(name)
        if args and spec.source != "module":
            raise ConfigError(f"model.args: {name} takes no arguments (model.args is for module.path:callable); "
                              f"found {sorted(args)}")
        return
    builder = MODELS.get(name, key="model.name")
    params = inspect.signature(builder).parameters
    accepted = [p for p in params if p not in ("in_shape", "num_classes")]
    for key in args:
        if key not in accepted:
            raise ConfigError(f"model.args.{key}: unknown argument for model '{name}'"
                              f"{did_you_mean(key, accepted)}; accepted: {', '.join(accepted) or 'none'}")


def build_model(name: str, in_shape: tuple[int, int, int], num_classes: int, args: dict):
    """Build a registered model; unknown `model.args` keys are config errors with a suggestion."""
    check_model_args(name, args)
    builder = MODELS.get(name, key="model.name")
    try:
        with warnings.catch_warnings():  # an empty layer is refused below, in one line
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            model = builder(in_shape=in_shape, num_classes=num_classes, **args)
    except (TypeError, ValueError, RuntimeError) as exc:  # RuntimeError: torch refusing a negative size
        raise ConfigError(f"model.args: model '{name}' rejected {args}: {str(exc).splitlines()[0]}") from None
    empty = next((k for k, p in model.named_parameters() if p.numel() == 0), None)
    if empty is not None:
        raise ConfigError(f"model.args: model '{name}' with {args} has an empty layer ({empty} has shape "
                          f"{list(dict(model.named_parameters())[empty].shape)}); sizes must be at least 1")
    return model


def has_conv2d(model) -> bool:
    """Whether a module holds a 2-D convolution (oneDNN then runs faster on channels-last tensors on a CPU)."""
    from torch import nn

    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def model_kind(name: str) -> str:
    """The run kind a model trains as ('classifier', 'gan'), declared when it was registered: the name of
    its task in the TASKS registry (xaicli/tasks). Models from elsewhere are classifiers."""
    from xaicli.models.external.spec import is_external, parse_spec

    if is_external(name):
        parse_spec(name)
        return "classifier"
    return MODELS.info(name, key="model.name")["kind"]
