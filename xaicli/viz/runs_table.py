"""Tables of runs (Rich): `xai runs`, `xai runs compare` and a sweep's summary."""

from __future__ import annotations

import sys
from datetime import datetime

STATUS_STYLE = {"finished": "green", "running": "cyan", "interrupted": "yellow", "failed": "red",
                "pending": "dim", "skipped": "dim"}
PIPE_WIDTH = 220  # a table written to a file or a pipe is not cut to 80 columns


def print_result(table) -> None:
    """A command's result table on standard output, full width when it is not a terminal."""
    from rich.console import Console

    Console(file=sys.stdout, soft_wrap=False, width=None if sys.stdout.isatty() else PIPE_WIDTH).print(table)


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value)
    return str(value)


def started(text: str | None) -> str:
    """An ISO start time as local 'YYYY-MM-DD HH:MM'."""
    if not text:
        return "-"
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


def status_cell(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def runs_table(rows: list[dict], title: str | None = None):
    from rich.table import Table

    from xaicli.viz.console import duration

    table = Table(title=title, title_justify="left")
    for name, justify in (("run", "left"), ("kind", "left"), ("data", "left"), ("model", "left"),
                          ("status", "left"), ("epochs", "right"), ("best", "right"), ("eval", "right"),
                          ("started", "left"), ("time", "right")):
        table.add_column(name, justify=justify, no_wrap=name in ("run", "started"))
    for r in rows:
        best = (f"{r['monitor']} {fmt(r['best'])} @{r['best_epoch']}" if r.get("best") is not None else "-")
        ev = r.get("eval")
        planned = r.get("planned_epochs")
        table.add_row(r["name"], fmt(r.get("kind")), fmt(r.get("dataset")), fmt(r.get("model")),
                      status_cell(r["status"]), f"{r['epochs']}/{planned}" if planned else str(r["epochs"]),
                      best, f"{ev['metric']} {fmt(ev['value'])}" if ev else "-", started(r.get("start_time")),
                      duration(r["seconds"]) if r.get("seconds") is not None else "-")
    return table


def side_by_side(title: str, first: str, names: list[str], rows: dict[str, list]):
    """One row per key, one column per run."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column(first, style="bold", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right")
    for key, values in rows.items():
        table.add_row(key, *(status_cell(v) if key == "status" else fmt(v) for v in values))
    return table


def sweep_table(summary: list[dict], title: str | None = None):
    """A sweep's summary: one row per grid point (seeds pooled), mean +- std of each metric."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    axes = list(summary[0]["point"]) if summary else []
    metrics: list[str] = []
    for row in summary:
        metrics += [m for m in row["metrics"] if m not in metrics]
    for axis in axes:
        table.add_column(axis, style="bold")
    table.add_column("runs", justify="right")
    for metric in metrics:
        table.add_column(metric, justify="right")
    for row in summary:
        cells = [fmt(v) for v in row["point"].values()]
        done = f"{row['finished']}/{row['runs']}"
        stats = []
        for metric in metrics:
            m = row["metrics"].get(metric)
            stats.append("-" if m is None else f"{m['mean']:.4g}" + (f" ± {m['std']:.2g}" if m["n"] > 1 else ""))
        table.add_row(*cells, done, *stats)
    return table


def plan_table(points: list[dict], title: str):
    """A sweep's points before it runs (--dry-run): what each is and what would happen to it."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name in ("point", "overrides", "state", "action"):
        table.add_column(name, no_wrap=name == "point")
    for p in points:
        table.add_row(p["name"], " ".join(p["overrides"]), status_cell(p["state"]), p["action"])
    return table


def print_sweep(result: dict) -> None:
    """`xai sweep`'s result: the plan of a dry run, else the summary over seeds."""
    name = result["name"]
    if result.get("dry_run") and not result.get("script"):
        print_result(plan_table(result["points"], f"sweep {name}: {len(result['points'])} points (dry run)"))
        return
    states = [p["state"] for p in result["points"]]
    counts = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
    print(f"sweep {name}: {counts}" + (" (mean ± std over seeds)" if result.get("summary") else ""))
    if result.get("summary"):
        print_result(sweep_table(result["summary"]))
