"""What build_external returns: the model in eval mode, its class names, preprocessing and notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ExternalModel:
    model: Any  # nn.Module in eval mode whose forward returns logits
    class_names: list[str] | None  # from the weights' metadata, when they have it
    preprocess: dict  # resize (int|None), crop (int|None), mean (3 floats), std (3 floats), interpolation
    notes: list[str] = field(default_factory=list)  # one-line notices: "head fc replaced: 1000 -> 10 classes"
    head: str | None = None  # dotted name of the classifier layer (inside `model`)
    pretrained: bool = False  # weights were loaded (preprocess then is what they expect)
    source_file: str | None = None  # a user module's file, and its sha256 (recorded in meta.json)
    source_sha256: str | None = None
