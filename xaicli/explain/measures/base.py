"""What a measure is: a function of one Context (a method's maps on a batch, and how they were made)
that returns its own entries of the method's metrics, and the columns it declares for metrics.csv
and the report's table (name, label, and whether lower or higher is better)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn


@dataclass
class Settings:
    """How the measures run: the randomization test (on or off, its threshold), seeds, the budget."""

    sanity: bool = True
    threshold: float = 0.5
    seed: int = 0
    budget_mb: float | None = None
    curve_steps: int = 20


@dataclass(frozen=True)
class Context:
    """One method's maps on one batch, and everything a measure may need to judge them."""

    method: Any  # the registry's Method (callable with the contract)
    model: nn.Module
    inputs: torch.Tensor
    maps: torch.Tensor
    target: torch.Tensor | None
    fill: float  # the "removed pixel" value, in model-input units
    score: str  # "softmax" over classes, or "sigmoid" of one logit
    params: dict  # the params the method was called with
    settings: Settings
    seconds: float  # the method's own time on the batch


@dataclass(frozen=True)
class Column:
    """One column of metrics.csv and of the report's table."""

    name: str  # the CSV header, and the metrics key read when `value` is not given
    label: str  # the report's header
    better: str = ""  # "lower", "higher", or "" for a reference or a verdict
    value: Callable[[dict], Any] | None = None  # the cell, from one method's metrics
    classed: bool = False  # the report styles the cell by its value (pass / fail)

    def cell(self, metrics: dict) -> Any:
        return self.value(metrics) if self.value is not None else metrics.get(self.name)


@dataclass(frozen=True)
class Measure:
    name: str
    fn: Callable[[Context], dict]
    columns: tuple[Column, ...] = field(default_factory=tuple)

    def __call__(self, context: Context) -> dict:
        return self.fn(context)


def measure(name: str, *columns: Column) -> Callable[[Callable[[Context], dict]], Measure]:
    """Declare a function of a Context as a measure with its columns."""

    def decorate(fn: Callable[[Context], dict]) -> Measure:
        return Measure(name, fn, tuple(columns))

    return decorate
