"""Helpers for tests of models from elsewhere: blocked sockets, a fake torch hub cache, user modules."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest


class NetworkBlocked(RuntimeError):
    pass


def block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt while the test runs raises NetworkBlocked (a download fails loudly)."""
    def refuse(*args, **kwargs):
        raise NetworkBlocked("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def fake_hub_weights(torch_home: Path, arch: str, enum_name: str, seed: int = 0) -> tuple[Path, dict]:
    """Random weights for torchvision `arch` written where torch's hub cache keeps `enum_name`:
    TORCH_HOME/hub/checkpoints/<file name of the enum's url>. Returns (file, state dict)."""
    from urllib.parse import urlparse

    import torch
    from torchvision.models import get_model, get_model_weights

    member = get_model_weights(arch)[enum_name]
    torch.manual_seed(seed)
    state = get_model(arch, weights=None, num_classes=len(member.meta["categories"])).state_dict()
    path = torch_home / "hub" / "checkpoints" / Path(urlparse(member.url).path).name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path, state


USER_MODULE = '''
import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, num_classes=3, width=8, output="tensor"):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
        self.fc = nn.Linear(width, num_classes)
        self.output = output

    def forward(self, x):
        logits = self.fc(self.features(x))
        if self.output == "dict":
            return {"logits": logits, "hidden": None}
        if self.output == "object":
            return Output(logits)
        return logits


class Output:
    """What a Hugging Face model returns: an object with .logits."""

    def __init__(self, logits):
        self.logits = logits


def make_net(width=8, num_classes=3, output="tensor"):
    return TinyNet(num_classes=num_classes, width=width, output=output)


def make_fixed(width=8, output="tensor"):
    return TinyNet(num_classes=5, width=width, output=output)
'''


def write_user_module(folder: Path, name: str = "tinynet") -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(USER_MODULE))
    return path
