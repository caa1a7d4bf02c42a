"""Devices and random state: which device a run uses, and the RNG states a checkpoint carries."""

from __future__ import annotations

from xaicli.errors import ConfigError


def resolve_device(name: str):
    """`train.device` as a torch.device: auto picks CUDA, then MPS, then the CPU; a missing one is a ConfigError."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device: '{name}' requested but CUDA is not available here; "
                              f"use train.device=cpu or auto")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"train.device: '{name}' but only {torch.cuda.device_count()} GPU(s) exist")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("train.device: 'mps' requested but MPS is not available here")
    return torch.device(name)


def rng_state(device) -> dict:
    """The global RNG states (CPU, and this CUDA device's) as tensors, for a checkpoint."""
    import torch

    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device) -> None:
    import torch

    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
