"""A state dict from a local file: `.pt`/`.pth` (torch.save(model.state_dict())) read with
weights_only=True, or `.safetensors` when the safetensors package is installed."""

from __future__ import annotations

from pathlib import Path

from xaicli.errors import ConfigError, XaiError

FILE_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
# prefixes that wrappers add to parameter names: DDP, torch.compile, and our own logits wrapper
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
NESTED_KEYS = ("state_dict", "model_state_dict", "model")


def looks_like_file(weights: str) -> bool:
    """True when `model.weights` names a file rather than `none` or an enum name."""
    return weights.lower().endswith(FILE_SUFFIXES) or "/" in weights or "\\" in weights


def read_state_dict(path: str | Path, key: str = "model.weights") -> dict:
    """The tensors in a weights file, wrapper prefixes removed. One-line errors for a missing file, a file
    that is not a state dict, or safetensors without its package."""
    import torch

    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"{key}: weights file {path} not found")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise XaiError(f"{key}: {path} is a .safetensors file; pip install safetensors") from None
        state = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling refused or a corrupt file: one line
            raise XaiError(f"{key}: cannot read {path} as a state dict saved with torch.save "
                           f"({str(exc).splitlines()[0][:200]})") from None
    for nested in NESTED_KEYS:  # {'state_dict': {...}} as Lightning and many scripts save it
        if isinstance(state, dict) and isinstance(state.get(nested), dict):
            state = state[nested]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise XaiError(f"{key}: {path} does not hold a state dict (a mapping of names to tensors); save one "
                       "with torch.save(model.state_dict(), PATH)")
    return {strip_prefixes(k): v for k, v in state.items()}


def strip_prefixes(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if name.startswith(prefix):
                name, changed = name[len(prefix):], True
    return name


def load_into(model, state: dict, source: str, key: str = "model.weights") -> None:
    """Load a state dict strictly; a mismatch is one line naming the first missing/unexpected/misshaped key."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shaped = [k for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shaped:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first {unexpected[0]})")
        if shaped:
            k = shaped[0]
            parts.append(f"{len(shaped)} of another shape (first {k}: {list(state[k].shape)} in the file, "
                         f"{list(own[k].shape)} in the model)")
        raise XaiError(f"{key}: {source} does not fit the model: " + "; ".join(parts))
    model.load_state_dict(state)
