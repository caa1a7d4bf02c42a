"""The measures every method's maps go through, in order: each is a function of one Context that
returns its own metrics and declares its columns (metrics.csv, the scorecard and the report are
built from this list). A new measure is one function decorated with `measure(...)` and added here.

`explain.measures` picks among them by name (DEFAULT when left empty); `timing` and `degenerate`
always run, and `explain.sanity: false` leaves out the randomisation measures.
"""

from __future__ import annotations

from xaicli.config.schema import DEFAULT_MEASURES
from xaicli.errors import ConfigError
from xaicli.explain.measures import complexity, faithfulness, flipping, mprt, road, sanity, timing
from xaicli.explain.measures.base import Column, Measure, Settings
from xaicli.registry import did_you_mean

MEASURES: list[Measure] = [
    faithfulness.deletion_insertion, road.road, flipping.pixel_flipping,
    sanity.randomization, mprt.smooth_mprt, mprt.efficient_mprt, mprt.random_logit,
    complexity.sparseness, complexity.complexity, timing.timing, sanity.degenerate,
]
DEFAULT = tuple(DEFAULT_MEASURES)  # config.schema's list: smooth MPRT is chosen by name, not by default


def names() -> list[str]:
    """The names explain.measures accepts."""
    return [m.name for m in MEASURES if not m.always]


def check(chosen) -> None:
    """A ConfigError naming explain.measures for a name that is not a measure."""
    for name in chosen:
        if name not in names():
            raise ConfigError(f"explain.measures: unknown measure '{name}'{did_you_mean(str(name), names())}; "
                              f"choose from: {', '.join(names())}")


def active(settings: Settings | None = None) -> list[Measure]:
    """The measures a run uses, in MEASURES order."""
    settings = settings or Settings()
    chosen = DEFAULT if settings.measures is None else tuple(settings.measures)
    check(chosen)
    return [m for m in MEASURES if m.always or (m.name in chosen and (settings.sanity or not m.randomisation))]


def columns(measures: list[Measure] | None = None) -> list[Column]:
    """Every column of the measures, in order."""
    return [c for m in (MEASURES if measures is None else measures) for c in m.columns]
