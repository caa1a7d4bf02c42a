"""The experiment config: one dataclass per YAML section, dotted overrides, strict validation.

Precedence: dataclass defaults < YAML file < command-line overrides. This package never imports
torch, so `xai config` and the validation step of every command stay fast. Modules: schema (the
sections and their fields), yaml_io (safe YAML), validate (types, ranges, cross-field checks).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import yaml

from xaicli.config.schema import (
    SECTIONS,
    Config,
    DataConfig,
    EvalConfig,
    ExplainConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    all_keys,
    opt,
)
from xaicli.config.validate import Sources, _unknown, from_dict
from xaicli.config.yaml_io import parse_yaml, read_yaml_file
from xaicli.errors import ConfigError

__all__ = ["SECTIONS", "Config", "DataConfig", "EvalConfig", "ExplainConfig", "ModelConfig", "OptimConfig",
           "TrainConfig", "all_keys", "apply_override", "diff", "dump", "from_dict", "load", "load_run", "opt",
           "parse_override", "parse_yaml", "read_yaml_file", "to_dict", "upgrade"]


def parse_override(text: str) -> tuple[str, Any]:
    """'train.epochs=3' -> ('train.epochs', 3); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, for example train.epochs=3")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r}: the key is empty")
    value = parse_yaml(raw, f"override {text!r}") if raw.strip() else ""
    return key, value


def apply_override(data: dict, key: str, value: Any, source: str) -> None:
    """Set a dotted key in a nested dict; sections must exist (model.args.* may add keys)."""
    parts = key.split(".")
    node = data
    defaults = to_dict(Config())
    ref: Any = defaults
    for i, part in enumerate(parts[:-1]):
        inside_args = i >= 1 and parts[0] == "model" and parts[1] == "args"
        if not inside_args and (not isinstance(ref, dict) or part not in ref):
            raise _unknown(key, source, all_keys())
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
        ref = ref.get(part, {}) if isinstance(ref, dict) else {}
    leaf = parts[-1]
    inside_args = len(parts) >= 3 and parts[0] == "model" and parts[1] == "args"
    if not inside_args and (not isinstance(ref, dict) or leaf not in ref):
        raise _unknown(key, source, all_keys())
    node[leaf] = value


# keys added since a run may have been written, with the value that matches how that run was built
LEGACY_VALUES = {"data.val_split": 0.0, "data.resize": 0, "model.weights": "none", "model.allow_download": False,
                 "model.code_dir": "", "train.freeze": False}


def upgrade(data: dict) -> dict:
    """A resolved config dict written by an older xai, with LEGACY_VALUES filled in where keys are missing."""
    for key, value in LEGACY_VALUES.items():
        section, leaf = key.split(".")
        if isinstance(data.get(section), dict) and leaf not in data[section]:
            data[section][leaf] = value
    return data


def load_run(run_dir: str | Path, overrides: Sequence[str] = ()) -> Config:
    """A run directory's resolved config.yaml (older runs upgraded with LEGACY_VALUES), with overrides."""
    return load(Path(run_dir) / "config.yaml", overrides, resolved=True)


def load(path: str | Path | None, overrides: Sequence[str] = (), resolved: bool = False) -> Config:
    """Read a YAML config (or start from defaults), apply overrides, validate. `resolved`: the file is a
    run's resolved config (missing keys take their legacy values)."""
    data = read_yaml_file(path) if path is not None else {}
    if resolved:
        upgrade(data)
    origins = {}
    for text in overrides:
        key, value = parse_override(text)
        apply_override(data, key, value, f"override {text!r}")
        origins[key] = f"override {text!r}"
    cfg = from_dict(data, Sources(str(path) if path is not None else "config", origins))
    pin_code_dir(cfg, path)
    return cfg


def pin_code_dir(cfg: Config, path: str | Path | None) -> None:
    """A `module.path:callable` model is imported from the config file's folder (the working folder for a
    config given only as overrides): that folder is written into model.code_dir, so the run's resolved
    config finds the same code again."""
    from xaicli.models.external.spec import is_external, parse_spec

    if cfg.model.code_dir or not is_external(cfg.model.name):
        return
    if parse_spec(cfg.model.name).source == "module":
        cfg.model.code_dir = str(Path(path).resolve().parent if path is not None else Path.cwd().resolve())


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def dump(cfg: Config) -> str:
    """The resolved config as YAML; itself a valid config file."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=False)


def diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    keys = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict) and not (prefix == "model." and k == "args"):
            keys += diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            keys.append(f"{prefix}{k}")
    return keys
