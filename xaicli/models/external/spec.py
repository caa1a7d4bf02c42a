"""Reading a `model.name` that names a model from elsewhere: `torchvision:NAME`, `timm:NAME`,
`module.path:callable` or `path/to/file.py:callable`. Pure string work: no torch, no imports of user code."""

from __future__ import annotations

from dataclasses import dataclass

from xaicli.errors import ConfigError

LIBRARIES = ("torchvision", "timm")


@dataclass(frozen=True)
class Spec:
    source: str  # "torchvision", "timm" or "module"
    name: str  # the architecture name, or the callable's name for a module
    module: str = ""  # module source: a dotted module path or a .py file path


def is_external(name: str) -> bool:
    """True when `model.name` names a model from a library or the user's code (it holds a ':')."""
    return ":" in name


def parse_spec(spec: str, key: str = "model.name") -> Spec:
    """'torchvision:resnet18' -> Spec('torchvision', 'resnet18'); 'pkg.mod:make' -> Spec('module', 'make',
    'pkg.mod'). A malformed spec is a ConfigError naming `key`."""
    head, sep, tail = spec.rpartition(":")
    if not sep or not head or not tail:
        raise ConfigError(f"{key}: '{spec}' is not a model source; expected torchvision:NAME, timm:NAME, "
                          "module.path:callable or file.py:callable")
    if head in LIBRARIES:
        return Spec(head, tail)
    if not tail.isidentifier():
        raise ConfigError(f"{key}: '{tail}' in '{spec}' is not a Python name; expected module.path:callable")
    if not head.endswith(".py") and not all(part.isidentifier() for part in head.split(".")):
        raise ConfigError(f"{key}: '{head}' in '{spec}' is neither a dotted module path nor a .py file")
    return Spec("module", tail, head)
