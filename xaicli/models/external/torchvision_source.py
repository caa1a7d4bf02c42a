"""`torchvision:NAME`: any classification model of torchvision.models.get_model, with weights `none`, an
enum name read from the local torch hub cache (downloaded only when allowed), or a state-dict file."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from xaicli.errors import ConfigError, XaiError
from xaicli.registry import did_you_mean

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def classification_models() -> list[str]:
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


def check_name(name: str) -> None:
    names = classification_models()
    if name not in names:
        raise ConfigError(f"model.name: torchvision has no classification model '{name}'"
                          f"{did_you_mean(name, names)}; see torchvision.models.list_models()")


def weights_enum(name: str, weights: str):
    """The weights enum member `weights` ('IMAGENET1K_V1', 'DEFAULT' or 'ResNet18_Weights.IMAGENET1K_V1')."""
    from torchvision.models import get_model_weights

    enum = get_model_weights(name)
    member = weights.rpartition(".")[2]
    try:
        return enum[member]
    except KeyError:
        choices = [w.name for w in enum] + ["DEFAULT"]
        raise ConfigError(f"model.weights: '{weights}' is not a weights name of torchvision:{name}"
                          f"{did_you_mean(member, choices)}; expected none, a file or one of "
                          f"{', '.join(choices)}") from None


def cache_file(enum_member) -> Path:
    """Where torch's hub cache keeps an enum's weights: <hub dir>/checkpoints/<file name of its url>."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(enum_member.url).path).name


def _first(v) -> int | None:
    return int(v[0]) if isinstance(v, (list, tuple)) else (int(v) if v else None)


def preprocess_of(enum_member) -> dict:
    """resize, crop, mean, std and interpolation from the weights' transforms()."""
    t = enum_member.transforms()
    first = _first
    return {"resize": first(getattr(t, "resize_size", None)), "crop": first(getattr(t, "crop_size", None)),
            "mean": [float(v) for v in t.mean], "std": [float(v) for v in t.std],
            "interpolation": str(getattr(t.interpolation, "value", t.interpolation))}


def default_preprocess(name: str) -> dict:
    """The preprocessing the architecture's DEFAULT weights expect (ImageNet's when it has none)."""
    from torchvision.models import get_model_weights

    try:
        return preprocess_of(get_model_weights(name)["DEFAULT"])
    except (KeyError, ValueError, AttributeError):
        return {"resize": 256, "crop": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "interpolation": "bilinear"}


def default_categories(name: str) -> list[str] | None:
    from torchvision.models import get_model_weights

    try:
        return list(get_model_weights(name)["DEFAULT"].meta["categories"])
    except (KeyError, ValueError, AttributeError):
        return None


def build_pretrained(name: str, weights: str, allow_download: bool):
    """(model, class names, preprocess) for enum weights, read from the hub cache unless downloads are on."""
    from torchvision.models import get_model

    member = weights_enum(name, weights)
    path = cache_file(member)
    if not path.is_file() and not allow_download:
        raise XaiError(f"model.weights: {member} for torchvision:{name} is not in the torch hub cache "
                       f"{path.parent} (looked for {path.name}); place the file there, give a weights file, or "
                       "set model.allow_download: true")
    try:
        model = get_model(name, weights=member)
    except Exception as exc:  # a corrupt cache file, or a failed download: one line
        raise XaiError(f"model.weights: cannot load {member} for torchvision:{name} from {path} "
                       f"({str(exc).splitlines()[0][:200]})") from None
    return model, list(member.meta.get("categories") or []) or None, preprocess_of(member)


def build_bare(name: str):
    from torchvision.models import get_model

    return get_model(name, weights=None)
