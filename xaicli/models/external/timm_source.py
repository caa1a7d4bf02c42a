"""`timm:NAME` through the optional extra (pip install -e ".[timm]"): preprocessing from the model's
pretrained_cfg, weights `none`, a local checkpoint file, or its pretrained weights from the local cache."""

from __future__ import annotations

import math

from xaicli.errors import ConfigError, XaiError
from xaicli.registry import did_you_mean

PRETRAINED = ("default", "pretrained", "true")


def import_timm():
    try:
        import timm
    except ImportError:
        raise ConfigError("model.name: timm models need the timm package; pip install -e \".[timm]\" "
                          "(or pip install timm)") from None
    return timm


def create(name: str, weights: str, allow_download: bool):
    """A timm model, pretrained from the local cache when `weights` is DEFAULT/pretrained (else random)."""
    timm = import_timm()
    if not timm.is_model(name):
        raise ConfigError(f"model.name: timm has no model '{name}'{did_you_mean(name, timm.list_models())}")
    pretrained = weights.lower() in PRETRAINED
    if not pretrained:
        return timm.create_model(name, pretrained=False)
    if allow_download:
        return _create_pretrained(timm, name)
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True  # read the cache, never the network
    try:
        return _create_pretrained(timm, name)
    finally:
        constants.HF_HUB_OFFLINE = saved


def _create_pretrained(timm, name: str):
    try:
        return timm.create_model(name, pretrained=True)
    except Exception as exc:
        raise XaiError(f"model.weights: pretrained weights of timm:{name} are not in the local cache "
                       f"({str(exc).splitlines()[0][:160]}); give a weights file or set model.allow_download: "
                       "true") from None


def preprocess_of(model) -> dict:
    """resize, crop, mean, std, interpolation from timm's resolved data config (pretrained_cfg)."""
    from timm.data import resolve_model_data_config

    cfg = resolve_model_data_config(model)
    crop = int(cfg["input_size"][-1])
    return {"resize": int(math.floor(crop / cfg.get("crop_pct", 1.0))), "crop": crop,
            "mean": [float(v) for v in cfg["mean"]], "std": [float(v) for v in cfg["std"]],
            "interpolation": str(cfg.get("interpolation", "bilinear"))}


def class_names_of(model, pretrained: bool) -> list[str] | None:
    """Label names from pretrained_cfg, or ImageNet's when pretrained ImageNet weights were loaded."""
    names = model.pretrained_cfg.get("label_names")
    if names:
        return list(names)
    if not pretrained:
        return None
    from timm.data import ImageNetInfo, infer_imagenet_subset

    subset = infer_imagenet_subset(model)
    return list(ImageNetInfo(subset).label_descriptions()) if subset else None


def head_name(model) -> str | None:
    name = model.pretrained_cfg.get("classifier")
    return name if isinstance(name, str) else (name[0] if name else None)


def reset_head(model, num_classes: int) -> None:
    model.reset_classifier(num_classes)
