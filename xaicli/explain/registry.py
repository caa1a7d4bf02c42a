"""The METHODS registry: each entry is a Method with the contract `(model, inputs, target, **params)`.

Names resolve as: a registered name (`saliency`), or `<prefix>:<rest>` where a method module registered
the prefix with a factory: the SmoothGrad family over any method (`smoothgrad:integrated_gradients`,
`smoothgrad_sq:...`, `vargrad:...`, in methods/noise.py) and Captum's methods through the adapter
(`captum:DeepLift`, in methods/captum.py). This module imports no method: the registries load the
method modules by name on first use.

Calling a Method checks its params: an unknown one is an error that names the accepted ones. The
pipeline, which hands one shared dict to every method, keeps what each takes (`Method.accepts`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from xaicli.errors import ConfigError
from xaicli.registry import Registry, did_you_mean

# module -> the methods and the name prefixes it registers (known without importing torch: help, completion)
METHODS: Registry = Registry("explanation method", modules={
    "xaicli.explain.methods.gradients": ("saliency", "input_x_gradient", "guided_backprop"),
    "xaicli.explain.methods.integrated": ("integrated_gradients", "gradient_shap"),
    "xaicli.explain.methods.noise": ("smoothgrad", "smoothgrad_sq", "vargrad"),
    "xaicli.explain.methods.cam": ("gradcam", "gradcam_pp", "guided_gradcam"),
    "xaicli.explain.methods.occlusion": ("occlusion",),
    "xaicli.explain.methods.captum": (),
})
PREFIXES: Registry = Registry("method prefix", modules={  # name -> factory(rest) -> Method
    "xaicli.explain.methods.noise": ("smoothgrad", "smoothgrad_sq", "vargrad"),
    "xaicli.explain.methods.captum": ("captum",),
})
CONTRACT = ("model", "inputs", "target")


def one_pass(params: dict, shape: tuple) -> int:
    return 1


@dataclass(frozen=True)
class Method:
    """An attribution method: the function, whether its maps carry a sign, its cost per image (forward
    + backward passes, from the params and one input's (C, H, W) shape), the params fixed by its name
    (smoothgrad's base method) and, when the function takes **params, the names it accepts."""

    name: str
    fn: Callable
    signed: bool  # signed maps are drawn with a diverging colormap, magnitudes with a sequential one
    passes: Callable[[dict, tuple], int] = one_pass
    bound: dict = field(default_factory=dict)
    accepted: tuple[str, ...] | None = None  # None: the keyword parameters of fn
    hooks: bool = False  # installs module hooks (layers, guided backprop): refused on TorchScript models

    @cached_property
    def parameters(self) -> tuple[str, ...]:
        """The parameters a caller may pass."""
        if self.accepted is not None:
            return self.accepted
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return tuple(k for k, p in inspect.signature(self.fn).parameters.items()
                     if p.kind in kinds and k not in CONTRACT and k not in self.bound)

    @property
    def reads_layer(self) -> bool:
        """Class activation maps (and Captum's layer methods) read a layer of the model."""
        return "layer" in self.parameters

    def accepts(self, params: dict) -> dict:
        """The params this method takes, from a dict shared by several methods."""
        return {k: v for k, v in params.items() if k in self.parameters}

    def check(self, params: dict) -> None:
        """A ConfigError for a parameter this method does not take (a misspelling, or another method's)."""
        for key in params:
            if key not in self.parameters:
                raise ConfigError(f"{self.name}: unknown parameter '{key}'{did_you_mean(key, list(self.parameters))}; "
                                  f"it accepts: {', '.join(self.parameters) or 'none'}")

    def __call__(self, model, inputs, target=None, **params):
        """The method on a batch: params checked, a model in training mode warned about (core.model_as_found)."""
        self.check(params)
        from xaicli.explain.core import model_as_found, refuse_scripted

        if self.hooks:
            refuse_scripted(model, self.name)

        with model_as_found(model, self.name):
            return self.fn(model, inputs, target, **params, **self.bound)

    def apply(self, model, inputs, target, params: dict):
        """The method with the params it takes from a shared dict, unchecked: for wrappers (SmoothGrad)."""
        return self.fn(model, inputs, target, **self.accepts(params), **self.bound)


def register_method(name: str, signed: bool, passes: Callable[[dict, tuple], int] | None = None,
                    hooks: bool = False):
    """Register a function under `name`; the module-level name becomes the Method."""

    def decorate(fn: Callable) -> Method:
        method = Method(name, fn, signed, passes or one_pass, hooks=hooks)
        METHODS.register(name)(method)
        return method

    return decorate


def register_prefix(prefix: str, factory: Callable[[str], Method]) -> None:
    """`<prefix>:<rest>` resolves to factory(rest)."""
    PREFIXES.register(prefix)(factory)


def resolve(name: str) -> Method:
    """A Method for a registered name or `<prefix>:<rest>`."""
    if ":" in name:
        prefix, rest = name.split(":", 1)
        return PREFIXES.get(prefix, key="explain.methods")(rest)
    return METHODS.get(name, key="explain.methods")
