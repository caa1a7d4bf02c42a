"""`module.path:callable` or `path/to/file.py:callable`: the user's own nn.Module factory. Naming code in a
config runs that code. A module next to the config (model.code_dir) imports without packaging."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from contextlib import contextmanager
from pathlib import Path

from xaicli.errors import ConfigError


@contextmanager
def on_sys_path(folder: str | Path | None):
    """`folder` first on sys.path for the duration of one import only."""
    if not folder:
        yield
        return
    entry = str(Path(folder).resolve())
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if sys.path and sys.path[0] == entry:
            del sys.path[0]
        elif entry in sys.path:
            sys.path.remove(entry)


def _import_file(path: Path):
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    mod_name = f"xai_user_{path.stem}_{digest}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"model.name: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        with on_sys_path(path.parent):  # the file's own siblings import too
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[mod_name]
        raise
    return module


def import_module(module: str, code_dir: str | Path | None):
    """The module named by a spec: a .py file (relative to code_dir, else the working folder) or a dotted
    path (code_dir searched first). Errors raised by the user's code are reported in one line."""
    try:
        if module.endswith(".py"):
            path = Path(module).expanduser()
            if not path.is_absolute() and code_dir and (Path(code_dir) / path).is_file():
                path = Path(code_dir) / path
            if not path.is_file():
                raise ConfigError(f"model.name: module file {module} not found (looked in "
                                  f"{code_dir or '.'} and the working folder)")
            return _import_file(path.resolve())
        with on_sys_path(code_dir):
            return importlib.import_module(module)
    except ConfigError:
        raise
    except ModuleNotFoundError as exc:
        raise ConfigError(f"model.name: cannot import '{module}' ({exc}); put {module.split('.')[0]}.py next to "
                          "the config or make it importable") from None
    except Exception as exc:
        raise ConfigError(f"model.name: importing '{module}' failed: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


def module_file(mod) -> Path | None:
    path = getattr(mod, "__file__", None)
    return Path(path).resolve() if path else None


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def call_factory(mod, name: str, spec: str, args: dict, num_classes: int | None):
    """factory(**args), with num_classes passed when the factory accepts it and args do not set it."""
    import torch

    factory = getattr(mod, name, None)
    if not callable(factory):
        raise ConfigError(f"model.name: '{spec}': module {mod.__name__} has no callable '{name}'")
    kwargs = dict(args)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    if num_classes is not None and "num_classes" in params and "num_classes" not in kwargs:
        kwargs["num_classes"] = num_classes
    try:
        model = factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"model.args: '{spec}' rejected {args}: {str(exc).splitlines()[0]}") from None
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"model.name: '{spec}' returned {type(model).__name__}, expected a torch.nn.Module")
    return model
