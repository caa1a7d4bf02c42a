"""Name -> builder registries with "did you mean" lookups (models, datasets, explain methods)."""

from __future__ import annotations

import difflib
import importlib
from typing import Callable, Generic, Mapping, Sequence, TypeVar

from xaicli.errors import ConfigError

T = TypeVar("T", bound=Callable)


def did_you_mean(word: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Registry(Generic[T]):
    """A named collection of builders, filled by the `register` decorator.

    `modules` are imported on first lookup, so importing the registry itself stays cheap (the CLI's
    top level must not pull in torch). Given as {module: names it registers}, the names are known
    without importing anything (for help texts and shell completion); the first lookup checks that
    the modules registered exactly those.
    """

    def __init__(self, kind: str, modules: Mapping[str, Sequence[str]] | Sequence[str] = (),
                 required: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._declared = {m: tuple(n) for m, n in modules.items()} if isinstance(modules, Mapping) else None
        self._modules = tuple(modules)
        self._required = required  # facts every entry must declare at registration (a model's kind)
        self._loaded = False
        self._entries: dict[str, T] = {}
        self._info: dict[str, dict] = {}

    def register(self, name: str, **info) -> Callable[[T], T]:
        """Decorator: add `fn` under `name`, with facts about it (`info`) that lookups can read without
        calling it."""
        missing = [k for k in self._required if k not in info]
        if missing:
            raise ValueError(f"{self.kind} '{name}' must declare {', '.join(missing)} when it is registered")

        def decorate(fn: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = fn
            self._info[name] = dict(info)
            return fn

        return decorate

    def info(self, name: str, key: str | None = None) -> dict:
        """The facts declared with `name` at registration (a ConfigError naming `key` when unknown)."""
        self.get(name, key)
        return self._info[name]

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                importlib.import_module(module)
            if self._declared is not None:
                declared = {n for names in self._declared.values() for n in names}
                if declared != set(self._entries):
                    raise RuntimeError(f"{self.kind} registry: its modules registered {sorted(self._entries)} but "
                                       f"it declares {sorted(declared)}; update the declaration")

    def declared_names(self) -> list[str]:
        """The names, without importing the modules when they were declared (else after loading them)."""
        if self._declared is None:
            return self.names()
        return sorted(n for names in self._declared.values() for n in names)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def get(self, name: str, key: str | None = None) -> T:
        self._load()
        if name not in self._entries:
            where = f"{key}: " if key else ""
            raise ConfigError(
                f"{where}unknown {self.kind} '{name}'{did_you_mean(name, self.names())}; "
                f"choose one of: {', '.join(self.names())}"
            )
        return self._entries[name]

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries
