"""What a measure is: a function of one Context (a method's maps on a batch, and how they were made)
that returns its own entries of the method's metrics, and the columns it declares for metrics.csv,
the scorecard and the report's tables (name, label, whether lower or higher is better).

A scored column is a score per image: the measure returns the per-image values under
`per_image[name]`, and the scorecard turns them into a mean with a bootstrap interval, compares them
with the random-attribution reference measured the same way and ranks the methods by them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

ROAD_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class Settings:
    """How the measures run: which ones, their perturbation settings, seeds, the memory budget."""

    sanity: bool = True  # run the randomisation measures (they re-run the method on changed models)
    threshold: float = 0.5
    seed: int = 0
    budget_mb: float | None = None
    curve_steps: int = 20  # deletion / insertion / pixel flipping: points after the start
    measures: tuple[str, ...] | None = None  # None: measures.DEFAULT
    road_fractions: tuple[float, ...] = ROAD_FRACTIONS
    road_noise: float = 0.01  # std of the noise added to imputed pixels, model input units
    patch: int = 4  # pixel flipping: side of the square patches, pixels
    smooth_samples: int = 10  # smooth MPRT: noisy copies averaged (the last one without noise)
    smooth_noise: float = 0.1  # smooth MPRT: noise std as a fraction of each image's range
    entropy_bins: int = 100  # efficient MPRT: histogram bins of the discrete entropy
    bootstrap: int = 1000  # resamples of the images for every interval
    confidence: float = 0.95


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
    shared: dict = field(default_factory=dict)  # work one measure leaves for the next (randomized maps)


@dataclass(frozen=True)
class Column:
    """One column of metrics.csv and of the report's tables."""

    name: str  # the CSV header, and the metrics key read when `value` is not given
    label: str  # the report's header
    better: str = ""  # "lower", "higher", or "" for a reference or a verdict
    value: Callable[[dict], Any] | None = None  # the cell, from one method's metrics
    classed: bool = False  # the report styles the cell by its value (pass / fail)
    scored: bool = False  # a score per image: mean, bootstrap interval, compared with random
    ranked: bool = False  # counts in the ranking (faithfulness and randomisation; not complexity)
    family: str = ""  # faithfulness, randomisation or complexity

    def cell(self, metrics: dict) -> Any:
        return self.value(metrics) if self.value is not None else metrics.get(self.name)


def score(name: str, label: str, better: str, family: str, ranked: bool = True) -> Column:
    """A scored column: one value per image, summarised by the scorecard."""
    return Column(name, label, better, scored=True, ranked=ranked, family=family)


@dataclass(frozen=True)
class Measure:
    name: str
    fn: Callable[[Context], dict]
    columns: tuple[Column, ...] = field(default_factory=tuple)
    always: bool = False  # run whatever explain.measures says (timing, degenerate maps)
    randomisation: bool = False  # re-runs the method on changed models: off with explain.sanity false

    def __call__(self, context: Context) -> dict:
        return self.fn(context)


def measure(name: str, *columns: Column, always: bool = False,
            randomisation: bool = False) -> Callable[[Callable[[Context], dict]], Measure]:
    """Declare a function of a Context as a measure with its columns."""

    def decorate(fn: Callable[[Context], dict]) -> Measure:
        return Measure(name, fn, tuple(columns), always, randomisation)

    return decorate


def per_image(**scores: torch.Tensor) -> dict:
    """A measure's per-image scores as plain lists (NaN where an image has no score)."""
    return {"per_image": {k: [float(v) for v in s.detach().double().cpu()] for k, s in scores.items()}}
