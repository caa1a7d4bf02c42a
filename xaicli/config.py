"""The experiment config: one dataclass per YAML section, dotted overrides, strict validation.

Precedence: dataclass defaults < YAML file < command-line overrides. This module never imports
torch, so `xai config` and the validation step of every command stay fast.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from xaicli.errors import ConfigError
from xaicli.registry import did_you_mean


def opt(default: Any, help: str, *, choices: tuple | None = None, min: float | None = None,
        max: float | None = None, exclusive_min: bool = False) -> Any:
    """A config field with its one-line meaning and the values it accepts."""
    meta = {"help": help, "choices": choices, "min": min, "max": max, "exclusive_min": exclusive_min}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    name: str = opt("mnist", "dataset registry name (xai list datasets)")
    source: str = opt("auto", "where images come from", choices=("auto", "local", "download", "embedded"))
    root: str = opt("data", "folder with the dataset's files (IDX files for MNIST-family data)")
    batch_size: int = opt(128, "training images per optimizer step (global, over all processes)", min=1)
    eval_batch_size: int = opt(1000, "images per forward pass in evaluation", min=1)
    shift: int = opt(0, "random translation augmentation for training, in pixels (0: off)", min=0, max=8)
    hflip: bool = opt(False, "random horizontal flips for training (not for digits)")
    num_train: int = opt(0, "use only the first N training images (0: all; synthetic: 0 means 1024)", min=0)
    num_test: int = opt(0, "use only the first N test images (0: all; synthetic: 0 means 256)", min=0)
    device_resident: str = opt("auto", "keep the whole dataset on the device as uint8",
                               choices=("auto", "true", "false"))
    drop_last: bool = opt(True, "drop the last partial training batch of each epoch (static shapes)")
    val_split: float = opt(0.1, "share of the training images held out, stratified, to validate on and choose "
                           "best.pt (datasets without a validation split of their own; 0: no validation)",
                           min=0.0, max=0.5)
    split_seed: int = opt(0, "seed of the validation split (fixed apart from `seed`, so runs that differ only "
                          "in seed validate on the same images)", min=0)


@dataclass
class ModelConfig:
    name: str = opt("fast_cnn", "model registry name (xai list models)")
    args: dict = opt({}, "keyword arguments for the model builder (for example width: 64)")


@dataclass
class OptimConfig:
    name: str = opt("adamw", "optimizer", choices=("adam", "adamw", "sgd"))
    lr: float = opt(1e-3, "peak learning rate", min=0.0, exclusive_min=True)
    weight_decay: float = opt(0.0, "decoupled weight decay (adamw) or L2 penalty (adam, sgd)", min=0.0)
    momentum: float = opt(0.9, "SGD momentum", min=0.0, max=1.0)
    betas: list = opt([0.9, 0.999], "Adam beta1, beta2")
    schedule: str = opt("onecycle", "learning-rate schedule over the whole run",
                        choices=("none", "cosine", "onecycle"))
    warmup: float = opt(0.2, "fraction of the run spent warming up (onecycle)", min=0.0, max=1.0)
    clip_grad_norm: float = opt(0.0, "clip the gradient norm to this value (0: off)", min=0.0)
    label_smoothing: float = opt(0.0, "label smoothing for the classification loss", min=0.0, max=1.0)


@dataclass
class TrainConfig:
    epochs: int = opt(10, "passes over the training set", min=1)
    device: str = opt("auto", "auto, cpu, cuda, cuda:N or mps")
    precision: str = opt("32", "numeric precision", choices=("32", "bf16-mixed", "16-mixed"))
    compile: bool = opt(False, "wrap the model in torch.compile")
    cuda_graphs: str = opt("auto", "replay each training step from a CUDA graph (CUDA only; auto: where "
                           "the run allows it, with a one-line notice where it does not)",
                           choices=("auto", "true", "false"))
    log_every: int = opt(50, "steps between progress lines and metrics.jsonl step rows", min=1)
    runs_dir: str = opt("runs", "parent folder of new run directories")
    threads: int = opt(0, "CPU threads for torch (0: torch's default)", min=0)


@dataclass
class EvalConfig:
    split: str = opt("test", "split evaluated by xai eval (test: never seen in training or model selection)",
                     choices=("train", "val", "test"))
    ece_bins: int = opt(15, "bins of the expected calibration error", min=1)
    classifier: str = opt("", "classifier run whose features score GAN samples (FID, KID)")
    num_samples: int = opt(10000, "GAN runs: generated and real images compared (capped at the held-out "
                                  "set size)", min=2)


@dataclass
class ExplainConfig:
    methods: list = opt(["saliency", "integrated_gradients", "gradcam"], "attribution methods")
    n: int = opt(8, "images to explain", min=1)
    target: str = opt("pred", "pred, label, or a class index")
    inputs: str = opt("real", "real or generated images (GAN runs)", choices=("real", "generated"))
    split: str = opt("test", "split the images come from", choices=("train", "val", "test"))
    baseline: str = opt("black", "IG / GradientSHAP / occlusion reference: zero (in model input units), black "
                        "(lowest pixel value), mean (training mean image), blur, uniform",
                        choices=("zero", "black", "mean", "blur", "uniform"))
    n_steps: int = opt(50, "integrated gradients: points on the path", min=2)
    rule: str = opt("gausslegendre", "integrated gradients: integration rule",
                    choices=("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"))
    n_samples: int = opt(20, "SmoothGrad / GradientSHAP: noisy samples per image", min=1)
    sigma: float = opt(0.15, "SmoothGrad: noise std as a fraction of the input range", min=0.0)
    window: int = opt(4, "occlusion: window side, in pixels", min=1)
    stride: int = opt(2, "occlusion: window step, in pixels", min=1)
    memory_mb: float = opt(1024.0, "memory budget of one multi-pass chunk, in MiB (halved on out-of-memory)",
                           min=0.0, exclusive_min=True)
    sanity: bool = opt(True, "run the model-parameter randomization test for each method")
    sanity_threshold: float = opt(0.5, "randomization test: pass below this Spearman correlation",
                                  min=-1.0, max=1.0)
    seed: int = opt(0, "seed of noise draws, random baselines, random pixel orders and generated inputs", min=0)
    classifier: str = opt("", "GAN runs: classifier run that explains generated digits and the generator "
                          "(empty: eval.classifier)")
    layer: str = opt("", "Grad-CAM family: dotted module name of the layer (empty: the last block whose output "
                     "is the final spatial feature map and that runs once per forward)")


@dataclass
class Config:
    name: str = opt("run", "run name: runs/<name>-NNN")
    seed: int = opt(0, "random seed for weights, data order and augmentation", min=0)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)


SECTIONS = {name: tp for name, tp in typing.get_type_hints(Config).items() if dataclasses.is_dataclass(tp)}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of silently keeping the last."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"a mapping key must be a plain value, found {key!r}", key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML with the safe loader (no Python tags), refusing duplicate keys."""
    loader = None
    try:
        loader = _UniqueKeyLoader(text)  # a SafeLoader: no Python tags, no arbitrary objects
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}:{where} invalid YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml_file(path: str | Path) -> dict:
    """Read a config file into a dict; every problem becomes a ConfigError naming the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, expected a YAML config file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    data = parse_yaml(text, str(path))
    if data is None:
        raise ConfigError(f"{path}: the file is empty; expected a mapping of config sections")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config sections at the top level, "
                          f"found a {type(data).__name__}")
    return data


def _describe(tp: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            list: "a list", dict: "a mapping"}.get(tp, str(tp))


def _check_value(key: str, value: Any, f: dataclasses.Field, tp: Any, source: str) -> Any:
    """Type- and range-check one leaf value; return it converted (int -> float where needed)."""
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: expected {expected}, found {value!r}")

    if tp is bool:
        if not isinstance(value, bool):
            raise fail(_describe(bool))
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(_describe(int))
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


def all_keys() -> list[str]:
    """Every valid dotted key, for "did you mean" suggestions."""
    keys = []
    for f in dataclasses.fields(Config):
        if f.name in SECTIONS:
            keys += [f"{f.name}.{g.name}" for g in dataclasses.fields(SECTIONS[f.name])]
        else:
            keys.append(f.name)
    return keys


def _unknown(key: str, source: str, valid: list[str]) -> ConfigError:
    hint = did_you_mean(key, valid) or did_you_mean(key, all_keys())
    return ConfigError(f"{source}: unknown key {key!r}{hint}")


def _build(cls: type, values: dict, prefix: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, value in values.items():
        key = f"{prefix}{name}"
        if not isinstance(name, str) or name not in fields:
            raise _unknown(str(key), source, [f"{prefix}{n}" for n in fields])
        tp = hints[name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {key}: expected a mapping (section), found {value!r}")
            kwargs[name] = _build(tp, value, f"{key}.", source)
        else:
            kwargs[name] = _check_value(key, value, fields[name], tp, source)
    return cls(**kwargs)


def _check_semantics(cfg: Config, source: str) -> None:
    """Cross-field checks that types alone cannot express."""
    if not _NAME_RE.match(cfg.name) or ".." in cfg.name:
        raise ConfigError(f"{source}: name: expected letters, digits, '_', '-', '.' or '+' "
                          f"(no path separators or '..'), found {cfg.name!r}")
    betas = cfg.optim.betas
    if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
        raise ConfigError(f"{source}: optim.betas: expected two numbers in [0, 1), found {betas!r}")
    dev = cfg.train.device
    if not re.match(r"^(auto|cpu|mps|cuda(:\d+)?)$", dev):
        raise ConfigError(f"{source}: train.device: expected auto, cpu, cuda, cuda:N or mps, found {dev!r}")
    if not all(isinstance(m, str) for m in cfg.explain.methods):
        raise ConfigError(f"{source}: explain.methods: expected a list of method names")
    t = cfg.explain.target
    if t not in ("pred", "label") and not t.isdigit():
        raise ConfigError(f"{source}: explain.target: expected pred, label or a class index, found {t!r}")


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


def from_dict(data: dict, source: str = "config") -> Config:
    cfg = _build(Config, data, "", source)
    _check_semantics(cfg, source)
    return cfg


# Keys added after runs were first written, with the value that reproduces what those runs did. A run's
# config.yaml is a resolved config, so a key it lacks was not there when it was trained.
LEGACY_VALUES = {"data.val_split": 0.0}


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
    source = str(path) if path is not None else "config"
    for text in overrides:
        key, value = parse_override(text)
        apply_override(data, key, value, f"override {text!r}")
    return from_dict(data, source)


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
