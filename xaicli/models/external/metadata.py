"""What an external model's weights say about the data, read without building the model (offline): the
preprocessing they expect and their class names. They fill the data settings the config leaves empty."""

from __future__ import annotations

from xaicli.models.external.spec import is_external, parse_spec
from xaicli.models.external.weights_file import looks_like_file


def _named_weights(model_cfg) -> str | None:
    weights = str(model_cfg.weights or "none")
    return None if weights.lower() == "none" else weights


def weights_metadata(model_cfg) -> tuple[dict | None, list[str] | None]:
    """(preprocess, class names) that the configured weights come with; (None, None) for random weights
    and user modules. A weights file of a torchvision architecture takes its DEFAULT weights' preprocessing."""
    if not is_external(model_cfg.name) or _named_weights(model_cfg) is None:
        return None, None
    spec = parse_spec(model_cfg.name)
    weights = _named_weights(model_cfg)
    if spec.source == "torchvision":
        from xaicli.models.external import torchvision_source as tv

        tv.check_name(spec.name)
        if looks_like_file(weights):
            return tv.default_preprocess(spec.name), None
        member = tv.weights_enum(spec.name, weights)
        return tv.preprocess_of(member), list(member.meta.get("categories") or []) or None
    if spec.source == "timm":
        from xaicli.models.external import timm_source as tm

        return tm.preprocess_of_name(spec.name), None
    return None, None


def needs_rgb(model_cfg) -> bool:
    """torchvision and timm architectures take three-channel images."""
    return is_external(model_cfg.name) and parse_spec(model_cfg.name).source in ("torchvision", "timm")


def fill_data_settings(cfg) -> list[str]:
    """Set data.image_size, data.mean, data.std (and data.channels: 3) from the weights where the config leaves
    them empty; returns one line per setting filled. The run's resolved config then records them."""
    notes = []
    data = cfg.data
    if needs_rgb(cfg.model) and not data.channels:
        data.channels = 3
    pre, _ = weights_metadata(cfg.model)
    if pre is None:
        return notes
    if not data.image_size and pre.get("crop"):
        data.image_size = int(pre["crop"])
        notes.append(f"data.image_size {data.image_size}")
    if not data.resize and pre.get("resize") and pre.get("crop") and data.image_size:
        data.resize = max(data.image_size, int(data.image_size * pre["resize"] / pre["crop"]))  # same border
        notes.append(f"data.resize {data.resize}")
    if not data.mean:
        data.mean = [round(float(v), 6) for v in pre["mean"]]
        notes.append(f"data.mean {data.mean}")
    if not data.std:
        data.std = [round(float(v), 6) for v in pre["std"]]
        notes.append(f"data.std {data.std}")
    return notes


def adopt_class_names(model_cfg, data) -> str | None:
    """Data whose class names are only their indices ('0', '1', ...) takes the weights' names when the counts
    agree; returns a one-line notice when it did."""
    _, names = weights_metadata(model_cfg)
    plain = [str(i) for i in range(data.num_classes)]
    if names and len(names) == data.num_classes and list(data.class_names) == plain:
        data.class_names = list(names)
        return f"class names: the {len(names)} categories of the weights ({names[0]}, ...)"
    return None
