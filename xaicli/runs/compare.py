"""`xai runs compare RUN...`: the config keys that differ, the metrics side by side, the curves in one plot."""

from __future__ import annotations

import os
from pathlib import Path

from xaicli.errors import ConfigError, XaiError
from xaicli.runs.layout import resolve_run
from xaicli.runs.listing import read_config, read_json, summarize
from xaicli.runs.metrics_log import read_epochs

NOT_CURVES = ("kind", "epoch", "seconds", "step")


def flatten(config: dict, prefix: str = "") -> dict:
    """Dotted keys of a nested config (model.args included, key by key; an empty mapping has no keys)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differing_keys(configs: list[dict]) -> dict[str, list]:
    """{dotted key: [value per run]} for the keys whose values are not all equal (a key a run lacks is None)."""
    flat = [flatten(c) for c in configs]
    keys = sorted(set().union(*flat))
    return {k: [f.get(k) for f in flat] for k in keys if len({repr(f.get(k)) for f in flat}) > 1}


def display_names(run_dirs: list[Path]) -> list[str]:
    """Folder names, or paths under the runs' common folder when two share a name (sweep points)."""
    names = [p.name for p in run_dirs]
    if len(set(names)) == len(names):
        return names
    common = Path(os.path.commonpath([str(p.resolve()) for p in run_dirs]))
    return [p.resolve().relative_to(common).as_posix() for p in run_dirs]


def metric_rows(summaries: list[dict], last_epochs: list[dict], evaluations: list[dict]) -> dict[str, list]:
    """Outcome, best score, the last epoch's metrics and the latest evaluation's, one list per row."""
    rows: dict[str, list] = {"status": [s["status"] for s in summaries],
                             "epochs": [s["epochs"] for s in summaries]}
    monitors = {s["monitor"] for s in summaries if s["monitor"]}
    label = f"best {monitors.pop()}" if len(monitors) == 1 else "best (monitored)"
    rows[label] = [s["best"] for s in summaries]
    rows["best epoch"] = [s["best_epoch"] for s in summaries]
    for prefix, records in (("last", last_epochs), ("eval", evaluations)):
        keys: list[str] = []
        for record in records:
            keys += [k for k, v in record.items() if k not in keys and k not in NOT_CURVES + ("images",)
                     and isinstance(v, (int, float)) and not isinstance(v, bool)]
        for key in keys:
            rows[f"{prefix} {key}"] = [r.get(key) for r in records]
    return rows


def default_plot_path(run_dirs: list[Path]) -> Path:
    """<the runs' common folder>/compare-NNN.png with the next free number (never overwrites)."""
    parents = [str(p.resolve().parent) for p in run_dirs]
    folder = Path(os.path.commonpath(parents))
    n = 1
    while True:
        path = folder / f"compare-{n:03d}.png"
        try:
            with open(path, "xb"):
                return path
        except FileExistsError:
            n += 1
        except OSError as exc:
            raise XaiError(f"{path}: cannot create the plot ({exc.strerror}); choose a file with --out") from None


def compare_runs(runs: list[str | Path], out: str | Path | None = None, plot: bool = True) -> dict:
    """Compare runs: {"runs", "paths", "config": differing keys, "metrics": rows, "plot": file or None}."""
    if len(runs) < 2:
        raise ConfigError("runs compare: give two or more run directories")
    run_dirs = [resolve_run(r)[0] for r in runs]
    names = display_names(run_dirs)
    summaries = [summarize(p, p.parent) for p in run_dirs]
    epochs = [read_epochs(p / "metrics.jsonl") for p in run_dirs]
    evaluations = [read_json(p / "eval" / "metrics.json") or {} for p in run_dirs]
    result = {"runs": names, "paths": [str(p) for p in run_dirs],
              "config": differing_keys([read_config(p / "config.yaml") for p in run_dirs]),
              "metrics": metric_rows(summaries, [e[-1] if e else {} for e in epochs], evaluations), "plot": None}
    if plot and any(epochs):
        from xaicli.viz.plots import comparison_curves

        if out is not None and Path(out).exists():
            raise ConfigError(f"--out {out}: exists; choose a new file (xai never overwrites)")
        path = Path(out) if out is not None else default_plot_path(run_dirs)
        comparison_curves(dict(zip(names, epochs, strict=True)), path, exclude=NOT_CURVES)
        result["plot"] = str(path)
    return result
