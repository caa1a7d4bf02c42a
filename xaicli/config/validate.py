"""Validation: each leaf's type and range, unknown keys with the closest valid one, cross-field checks."""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from typing import Any

from xaicli.config.schema import LOGGERS, MAX_INT, MAX_NAME, Config, all_keys
from xaicli.errors import ConfigError
from xaicli.registry import did_you_mean

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")  # fullmatch: `$` would let a final newline in


class Sources:
    """Where each value came from, for error messages: the config file, or the override that set it
    (`train.epochs=abc` on the command line is blamed on that override, not on the file)."""

    def __init__(self, default: str, overrides: dict[str, str] | None = None) -> None:
        self.default, self.overrides = default, dict(overrides or {})

    def __call__(self, key: str) -> str:
        parts = key.split(".")
        for i in range(len(parts), 0, -1):  # the key itself, then the section it sits in
            found = self.overrides.get(".".join(parts[:i]))
            if found is not None:
                return found
        return self.default

    def __str__(self) -> str:
        return self.default


def _describe(tp: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            list: "a list", dict: "a mapping"}.get(tp, str(tp))


def _check_value(key: str, value: Any, f: dataclasses.Field, tp: Any, source: str) -> Any:
    """Type- and range-check one leaf value; return it converted (int -> float where needed)."""
    def fail(expected: str) -> ConfigError:
        found = repr(value)
        return ConfigError(f"{source}: {key}: expected {expected}, found "
                           f"{found if len(found) <= 80 else found[:60] + f'... ({len(found)} characters)'}")

    if tp is bool:
        if not isinstance(value, bool):
            raise fail(_describe(bool))
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(_describe(int))
        if abs(value) > MAX_INT:
            raise fail(f"an integer of at most {MAX_INT}")
    elif tp is float:
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", value):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(_describe(float))
        value = float(value)
        if not math.isfinite(value):
            raise fail("a finite number")
    elif tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and f.metadata.get("choices"):
            value = str(value)  # precision: 32 is written as a number in YAML
        if isinstance(value, bool) and "true" in (f.metadata.get("choices") or ()):
            value = "true" if value else "false"  # auto|true|false options: YAML reads true as a bool
        if not isinstance(value, str):
            raise fail(_describe(str))
    elif tp is list:
        if not isinstance(value, list):
            raise fail(_describe(list))
    elif tp is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise fail("a mapping with string keys")
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{source}: {key}: expected one of {', '.join(map(str, meta['choices']))}, "
                          f"found {value!r}{did_you_mean(str(value), list(map(str, meta['choices'])))}")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and (value < lo or (meta.get("exclusive_min") and value == lo)):
        op = ">" if meta.get("exclusive_min") else ">="
        raise fail(f"a value {op} {lo}")
    if hi is not None and value > hi:
        raise fail(f"a value <= {hi}")
    return value


def _unknown(key: str, source: str, valid: list[str]) -> ConfigError:
    hint = did_you_mean(key, valid) or did_you_mean(key, all_keys())
    return ConfigError(f"{source}: unknown key {key!r}{hint}")


def _build(cls: type, values: dict, prefix: str, source: Sources) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, value in values.items():
        key = f"{prefix}{name}"
        if not isinstance(name, str) or name not in fields:
            raise _unknown(str(key), source(str(key)), [f"{prefix}{n}" for n in fields])
        tp = hints[name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{source(key)}: {key}: expected a mapping (section), found {value!r}")
            kwargs[name] = _build(tp, value, f"{key}.", source)
        else:
            kwargs[name] = _check_value(key, value, fields[name], tp, source(key))
    return cls(**kwargs)


def _check_semantics(cfg: Config, source: Sources) -> None:
    """Cross-field checks that types alone cannot express."""
    if not _NAME_RE.fullmatch(cfg.name) or ".." in cfg.name:
        raise ConfigError(f"{source('name')}: name: expected letters, digits, '_', '-', '.' or '+' "
                          f"(no path separators or '..'), found {cfg.name!r}")
    if len(cfg.name) > MAX_NAME:
        raise ConfigError(f"{source('name')}: name: expected at most {MAX_NAME} characters, found {len(cfg.name)}")
    betas = cfg.optim.betas
    if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
        raise ConfigError(f"{source('optim.betas')}: optim.betas: expected two numbers in [0, 1), "
                          f"found {betas!r}")
    dev = cfg.train.device
    if not re.match(r"^(auto|cpu|mps|cuda(:\d+)?)$", dev):
        raise ConfigError(f"{source('train.device')}: train.device: expected auto, cpu, cuda, cuda:N or mps, "
                          f"found {dev!r}")
    if not all(isinstance(m, str) for m in cfg.explain.methods):
        raise ConfigError(f"{source('explain.methods')}: explain.methods: expected a list of method names")
    unknown = [name for name in cfg.train.loggers if name not in LOGGERS]
    if unknown:
        raise ConfigError(f"{source('train.loggers')}: train.loggers: expected a list of {', '.join(LOGGERS)}, "
                          f"found {unknown[0]!r}{did_you_mean(str(unknown[0]), list(LOGGERS))}")
    for key, values in (("data.mean", cfg.data.mean), ("data.std", cfg.data.std)):
        if len(values) not in (0, 1, 3) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   and 0 <= v <= 1 and (key == "data.mean" or v > 0) for v in values):
            raise ConfigError(f"{source(key)}: {key}: expected 1 or 3 numbers in [0, 1] (one per channel"
                              f"{'' if key == 'data.mean' else ', above 0'}), found {values!r}")
    check_target(cfg.explain.target, f"{source('explain.target')}: explain.target")


def check_target(target: str, where: str) -> None:
    """pred, label, a class index in ASCII digits (str.isdigit also takes '²', which int() refuses) or
    what may be a class name (letters first; whether the model has that class is checked when its
    class names are known)."""
    if target not in ("pred", "label") and not re.fullmatch(r"[0-9]{1,9}", target) \
            and not (target[:1].isalpha() and re.fullmatch(r"[\w '.-]{1,100}", target)):
        raise ConfigError(f"{where}: expected pred, label, a class index or a class name, found {target!r}")


def from_dict(data: dict, source: str | Sources = "config") -> Config:
    """Validate a config dict into a Config; `source` names the file (and the overrides) in errors."""
    sources = source if isinstance(source, Sources) else Sources(source)
    cfg = _build(Config, data, "", sources)
    _check_semantics(cfg, sources)
    return cfg


# Keys added after runs were first written, with the value that reproduces what those runs did. A run's
# config.yaml is a resolved config, so a key it lacks was not there when it was trained.
