"""How many images a piece of work puts through a model, and the least time those passes take on
this device: the floor below which no implementation of the same measures can go, whatever it does
around the model. bench/scorecard_race.py counts both sides' passes with it.

A pass is counted at the model's top module (a forward pre-hook), split into passes with gradients
(a method computing a map: forward and backward) and without (a perturbed image scored). The hook
is a closure, so the copies that the randomisation tests make of the model (copy.deepcopy) keep
counting into the same tally."""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

import torch


@contextlib.contextmanager
def counted(model: torch.nn.Module) -> Iterator[dict]:
    """{"grad": images passed with gradients on, "no_grad": without}, filled while the block runs."""
    tally = {"grad": 0, "no_grad": 0}

    def count(module, args):
        if args and torch.is_tensor(args[0]):
            tally["grad" if torch.is_grad_enabled() else "no_grad"] += len(args[0])

    handle = model.register_forward_pre_hook(count)
    try:
        yield tally
    finally:
        handle.remove()


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def seconds_per_image(model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor, chunk: int,
                      repeats: int = 3) -> dict:
    """The fastest per-image time of a forward pass without gradients (inference mode) and of a
    forward and backward pass to the input (the target's logit), in chunks of `chunk` images."""
    pieces = list(zip(inputs.split(chunk), target.split(chunk), strict=True))

    def forward():
        with torch.inference_mode():
            for x, _ in pieces:
                model(x)

    def backward():
        for x, t in pieces:
            x = x.detach().requires_grad_(True)
            torch.autograd.grad(model(x).gather(1, t.view(-1, 1)).sum(), x)

    forward(), backward()  # warm-up
    n = len(inputs)
    return {"no_grad": _best(forward, repeats) / n, "grad": _best(backward, repeats) / n}


def floor_seconds(passes: dict, per_image: dict) -> float:
    """The least time `passes` take at `per_image`'s speed."""
    return passes["grad"] * per_image["grad"] + passes["no_grad"] * per_image["no_grad"]
