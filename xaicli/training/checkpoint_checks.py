"""What a checkpoint must hold before --resume loads any of it: the training position, the RNG states,
and optimizer, scheduler and scaler states that fit the run just built.

A checkpoint is data from disk, and torch's loaders trust it: an Adam moment of the wrong shape makes
the fused CPU kernel write out of bounds, an unknown scheduler key is merged into the scheduler's
attributes. So every tensor is compared with the parameter it belongs to (shape and dtype), every group
and setting with the built optimizer's, and each defect is one line naming the file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NoReturn

import torch

from xaicli.errors import XaiError
from xaicli.tasks.base import IMPLEMENTATION_KEYS


class Refusal:
    """The two one-line refusals: a checkpoint that does not fit the built run, or a broken one."""

    def __init__(self, path: Path, held: str, built: str) -> None:
        self.path, self.held, self.built = path, held, built

    def mismatch(self, detail: str) -> NoReturn:
        raise XaiError(f"{self.path}: checkpoint holds {self.held}, but the run builds {self.built}: {detail}")

    def corrupt(self, detail: str) -> NoReturn:
        raise XaiError(f"{self.path}: checkpoint is corrupt or incomplete ({detail})")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def same_kind(saved: Any, own: Any) -> bool:
    """True when `saved` has the structure of `own`: numbers for numbers, booleans for booleans, lists
    and tuples of the same length, mappings with the same keys, recursively."""
    if isinstance(own, bool):
        return isinstance(saved, bool)
    if is_number(own) or torch.is_tensor(own) and own.dim() == 0:
        return is_number(saved)
    if isinstance(own, (list, tuple)):
        return (isinstance(saved, (list, tuple)) and len(saved) == len(own)
                and all(same_kind(s, o) for s, o in zip(saved, own, strict=True)))
    if isinstance(own, dict):
        return (isinstance(saved, dict) and set(saved) == set(own)
                and all(same_kind(saved[k], own[k]) for k in own))
    if own is None or isinstance(own, str):
        return type(saved) is type(own)
    return False


def shape_text(t: torch.Tensor) -> str:
    return f"shape {list(t.shape)} {str(t.dtype).replace('torch.', '')}"


def check_position(saved: dict, steps_per_epoch: int, no: Refusal) -> None:
    """epoch, step_in_epoch, best and best_epoch: integers and numbers in their ranges."""
    epoch, step = saved.get("epoch"), saved.get("step_in_epoch")
    if not is_int(epoch) or epoch < 0:
        no.corrupt(f"epoch is {epoch!r}, expected a whole number >= 0")
    if not is_int(step) or not 0 <= step <= steps_per_epoch:
        no.corrupt(f"step_in_epoch is {step!r}, expected a whole number from 0 to {steps_per_epoch}, "
                   f"the steps of an epoch")
    best, best_epoch = saved.get("best"), saved.get("best_epoch")
    if best is not None and not is_number(best):
        no.corrupt(f"best is {best!r}, expected a finite number or none")
    if best_epoch is not None and (not is_int(best_epoch) or best_epoch < 1):
        no.corrupt(f"best_epoch is {best_epoch!r}, expected a whole number >= 1")
    if "gan_steps" in saved and (not is_int(saved["gan_steps"]) or saved["gan_steps"] < 0):
        no.corrupt(f"gan_steps is {saved['gan_steps']!r}, expected a whole number >= 0")
    if not isinstance(saved.get("config", {}), dict):
        no.corrupt("its config is not a mapping")


def check_rng(saved: Any, device: torch.device, no: Refusal) -> None:
    """The generator states must be byte tensors of the size this torch uses."""
    if not isinstance(saved, dict):
        no.corrupt("no random number generator state (rng)")
    own = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        own["cuda"] = torch.cuda.get_rng_state(device)
    for key, mine in own.items():
        value = saved.get(key)
        if key == "cuda" and value is None:
            continue  # a run saved on a CPU resumes on a GPU with a fresh CUDA generator
        if not torch.is_tensor(value) or value.dtype != torch.uint8 or value.shape != mine.shape:
            no.corrupt(f"rng.{key} is not a generator state of this torch (expected {shape_text(mine)})")


def check_optimizer(name: str, saved: Any, opt: torch.optim.Optimizer, no: Refusal) -> None:
    """Groups, their settings and every state tensor against the built optimizer and its parameters."""
    where = f"optimizers.{name}"
    if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict) \
            or not isinstance(saved.get("param_groups"), list):
        no.corrupt(f"no state for optimizer '{name}'")
    groups, own_groups = saved["param_groups"], opt.param_groups
    if len(groups) != len(own_groups):
        no.mismatch(f"{where} has {len(groups)} parameter groups in the checkpoint and {len(own_groups)} "
                    f"in the model")
    params: dict[Any, torch.Tensor] = {}
    for i, (group, mine) in enumerate(zip(groups, own_groups, strict=True)):
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            no.corrupt(f"{where}.param_groups.{i} is not a parameter group")
        if len(group["params"]) != len(mine["params"]):
            no.mismatch(f"{where}.param_groups.{i} has {len(group['params'])} parameters in the checkpoint "
                        f"and {len(mine['params'])} in the model")
        for index, param in zip(group["params"], mine["params"], strict=True):
            if not is_int(index) or index in params:
                no.corrupt(f"{where}.param_groups.{i} names parameter {index!r} twice or not by number")
            params[index] = param
        for key, value in group.items():
            if key != "params" and key not in IMPLEMENTATION_KEYS and key in mine \
                    and not same_kind(value, mine[key]):
                no.corrupt(f"{where}.param_groups.{i}.{key} is {value!r}, expected something like {mine[key]!r}")
    for index, entry in saved["state"].items():
        if index not in params:
            no.mismatch(f"{where}.state.{index} belongs to no parameter of the model")
        if not isinstance(entry, dict):
            no.corrupt(f"{where}.state.{index} is not a mapping")
        param = params[index]
        for key, value in entry.items():
            check_state_value(f"{where}.state.{index}.{key}", key, value, param, no)


def check_state_value(where: str, key: str, value: Any, param: torch.Tensor, no: Refusal) -> None:
    """A step counter is one finite number >= 0; any other tensor has its parameter's shape and dtype."""
    if key == "step":
        number = value if not torch.is_tensor(value) else value.item() if value.numel() == 1 \
            and value.dim() == 0 and value.is_floating_point() else None
        if not is_number(number) or number < 0:
            no.corrupt(f"{where} is not a step count (a finite number >= 0 in a 0-d float tensor)")
        return
    if value is None:
        return  # SGD without momentum keeps none
    if not torch.is_tensor(value):
        no.corrupt(f"{where} is {type(value).__name__}, expected a tensor")
    if value.shape != param.shape or value.dtype != param.dtype:
        no.mismatch(f"{where} has {shape_text(value)} in the checkpoint and {shape_text(param)} in the model")


def check_settings(where: str, saved: Any, own: dict, no: Refusal) -> None:
    """A scheduler's or scaler's state: only keys the built one has, each with the same structure (lists
    of the same length); keys it lacks keep the built value."""
    if not isinstance(saved, dict):
        no.corrupt(f"{where} is not a mapping")
    unknown = sorted(str(k) for k in saved if k not in own)
    if unknown:
        no.corrupt(f"{where} has keys that this run's does not have: {', '.join(unknown[:5])}")
    for key, value in saved.items():
        if not same_kind(value, own[key]):
            no.corrupt(f"{where}.{key} is {value!r}, expected something like {own[key]!r}")


def check_meters(saved: Any, no: Refusal) -> None:
    """An epoch's partial metric sums (a mid-epoch checkpoint): names and one 0-d tensor per name."""
    if saved is None:
        return
    keys = saved.get("keys") if isinstance(saved, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        no.corrupt("meters has no list of metric names")
    for part in ("sums", "window"):
        values = saved.get(part)
        if not isinstance(values, list) or len(values) != len(keys) or not all(
                torch.is_tensor(v) and v.dim() == 0 and v.is_floating_point() for v in values):
            no.corrupt(f"meters.{part} is not one number per metric ({', '.join(keys)})")


def check_training_state(saved: dict, task, steps_per_epoch: int, device: torch.device, no: Refusal) -> None:
    """Everything --resume loads besides the weights (checked by check_compatible)."""
    optimizers = saved.get("optimizers")
    if not isinstance(optimizers, dict):
        no.corrupt("no optimizer state")
    for name, opt in task.optimizers.items():
        check_optimizer(name, optimizers.get(name), opt, no)
    schedulers = saved.get("schedulers", {})
    if not isinstance(schedulers, dict):
        no.corrupt("schedulers is not a mapping")
    own = {k: s for k, s in task.schedulers.items() if s is not None}
    for name in schedulers:
        if name not in own:
            no.corrupt(f"a state for scheduler '{name}', which this run does not have")
    for name, scheduler in own.items():
        if name not in schedulers:
            no.corrupt(f"no state for scheduler '{name}'")
        check_settings(f"schedulers.{name}", schedulers[name], scheduler.state_dict(), no)
    scaler, own_scaler = saved.get("scaler"), task.scaler.state_dict()
    if own_scaler and not (scaler is None or isinstance(scaler, dict) and not scaler):  # else: not loaded
        check_settings("scaler", scaler, own_scaler, no)
    check_position(saved, steps_per_epoch, no)
    check_rng(saved.get("rng"), device, no)
    check_meters(saved.get("meters"), no)
