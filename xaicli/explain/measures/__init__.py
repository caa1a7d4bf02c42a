"""The measures every method's maps go through, in order: each is a function of one Context that
returns its own metrics and declares its columns (metrics.csv and the report's table are built from
this list). A new measure is one function decorated with `measure(...)` and added here."""

from __future__ import annotations

from xaicli.explain.measures import faithfulness, sanity, timing
from xaicli.explain.measures.base import Column, Measure

MEASURES: list[Measure] = [faithfulness.deletion_insertion, sanity.randomization, timing.timing, sanity.degenerate]


def columns(measures: list[Measure] | None = None) -> list[Column]:
    """Every column of the measures, in order."""
    return [c for m in (MEASURES if measures is None else measures) for c in m.columns]
