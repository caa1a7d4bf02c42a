"""The METHODS registry: each entry is a Method with the contract `(model, inputs, target, **params)`.

Names resolve as: a registered name (`saliency`), a SmoothGrad variant over any method
(`smoothgrad:integrated_gradients`, `smoothgrad_sq:...`, `vargrad:...`), or a Captum method through
the adapter (`captum:DeepLift`). Unknown params are dropped, so one params dict serves every method.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

from xaicli.errors import ConfigError
from xaicli.registry import Registry, did_you_mean

METHODS: Registry = Registry("explanation method", modules=(
    "xaicli.explain.methods.gradients", "xaicli.explain.methods.integrated", "xaicli.explain.methods.noise",
    "xaicli.explain.methods.cam", "xaicli.explain.methods.occlusion",
))
NOISE_KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")


@dataclass(frozen=True)
class Method:
    """An attribution method: the function, whether its maps carry a sign, and its cost per image."""

    name: str
    fn: Callable
    signed: bool  # signed maps are drawn with a diverging colormap, magnitudes with a sequential one
    passes: Callable[[dict], int] = field(default=lambda params: 1)  # forward+backward passes per image
    bound: dict = field(default_factory=dict)  # params fixed by the name (smoothgrad's base method)

    def accepts(self, params: dict) -> dict:
        sig = inspect.signature(self.fn).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.values()):
            return dict(params)
        return {k: v for k, v in params.items() if k in sig}

    def __call__(self, model, inputs, target=None, **params):
        return self.fn(model, inputs, target, **{**self.accepts(params), **self.bound})


def register_method(name: str, signed: bool, passes: Callable[[dict], int] | None = None):
    def decorate(fn: Callable) -> Callable:
        METHODS.register(name)(Method(name, fn, signed, passes or (lambda params: 1)))
        return fn

    return decorate


def resolve(name: str) -> Method:
    """A Method for a registered name, `<noise kind>:<method>`, or `captum:<Name>`."""
    if name.startswith("captum:"):
        from xaicli.explain.methods.captum import captum_method

        return captum_method(name.split(":", 1)[1])
    if ":" in name:
        kind, base = name.split(":", 1)
        if kind not in NOISE_KINDS:
            raise ConfigError(f"unknown method prefix '{kind}:'{did_you_mean(kind, [*NOISE_KINDS, 'captum'])}; "
                              f"use one of {', '.join(NOISE_KINDS)} or captum")
        inner = resolve(base)
        from xaicli.explain.methods.noise import noise_tunnel

        return Method(name, noise_tunnel, signed=inner.signed and kind == "smoothgrad",
                      passes=lambda params: params.get("n_samples", 10) * inner.passes(params),
                      bound={"kind": kind, "base": inner})
    return METHODS.get(name, key="explain.methods")
