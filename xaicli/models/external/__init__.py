"""Models from elsewhere: `torchvision:NAME`, `timm:NAME`, `module.path:callable` / `file.py:callable`.

build_external is the one entry point (training, restore and one-shot explanations use it): it builds the
model, loads its weights (`none`, an enum name from the local torch hub cache, or a .pt/.pth/.safetensors
state dict), replaces the classifier head when the data has another class count, wraps a model that
returns an object or a dict with `logits`, and says what it did in one-line notes.
Importing this package does not import torch.
"""

from __future__ import annotations

from pathlib import Path

from xaicli.models.external.result import ExternalModel
from xaicli.models.external.spec import Spec, is_external, parse_spec

__all__ = ["ExternalModel", "Spec", "build_external", "is_external", "parse_spec"]


def build_external(spec: str, weights: str | None = None, *, allow_download: bool = False,
                   num_classes: int | None = None, args: dict | None = None,
                   code_dir: str | Path | None = None, input_shape: tuple[int, int, int] | None = None,
                   ) -> ExternalModel:
    """Build the model `spec` names with `weights` (None or 'none': random), `num_classes` outputs (None:
    the weights' own), `args` for a user module's factory. `code_dir`: folder a user module is imported
    from first (the config's). `input_shape` (C, H, W): for the probe that detects Hugging Face style
    outputs of a user module (default 3x224x224)."""
    from xaicli.models.external.build import build

    return build(parse_spec(spec), spec, weights, allow_download=allow_download, num_classes=num_classes,
                 args=dict(args or {}), code_dir=code_dir, input_shape=input_shape)
