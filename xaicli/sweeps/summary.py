"""A sweep's summary: one row per grid point with its seeds pooled, mean +- std of the best monitored score
and of the latest evaluation's headline (accuracy or FID) over the finished runs."""

from __future__ import annotations

import statistics
from pathlib import Path

from xaicli.runs.listing import summarize
from xaicli.sweeps.grid import Point


def mean_std(values: list[float]) -> dict:
    """n, mean and the sample standard deviation (0 for a single value)."""
    return {"n": len(values), "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "values": values}


def run_metrics(run_dir: Path) -> tuple[str | None, dict[str, float]]:
    """(status, {metric label: value}) of one point's run."""
    if not (run_dir / "config.yaml").is_file():
        return None, {}
    s = summarize(run_dir, run_dir.parent)
    out = {}
    if s["best"] is not None and s["monitor"]:
        out[f"best {s['monitor']}"] = float(s["best"])
    if s["eval"]:
        out[f"eval {s['eval']['metric']}"] = float(s["eval"]["value"])
    return s["status"], out


def summarize_sweep(sweep_dir: Path, points: list[Point]) -> list[dict]:
    """[{"point": {axis: value} without the seed, "runs", "finished", "metrics": {label: mean_std}}]."""
    groups: dict[tuple, list[Point]] = {}
    for p in points:
        groups.setdefault(p.group(), []).append(p)
    rows = []
    for group, members in groups.items():
        values: dict[str, list[float]] = {}
        finished = 0
        for p in members:
            status, metrics = run_metrics(sweep_dir / p.name)
            if status != "finished":
                continue
            finished += 1
            for label, value in metrics.items():
                values.setdefault(label, []).append(value)
        rows.append({"point": dict(group) or {"grid point": "all"}, "runs": len(members), "finished": finished,
                     "metrics": {label: mean_std(v) for label, v in values.items()}})
    return rows
