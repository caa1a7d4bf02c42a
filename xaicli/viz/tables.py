"""Tables a person reads on the console (Rich): evaluation metrics, every config key."""

from __future__ import annotations

import dataclasses
import sys


def print_table(table, to_stdout: bool = False) -> None:
    """Tables go to standard output when they are the command's result, else to standard error."""
    from rich.console import Console

    Console(file=sys.stdout if to_stdout else sys.stderr, soft_wrap=False).print(table)


def metrics_table(metrics: dict):
    """Scalars in one table; per-class accuracy as its own rows."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{metrics.get('model')} - {metrics.get('run')}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, bool) or key in ("run", "model", "checkpoint", "created", "verdict"):
            continue
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif isinstance(value, (int, str)) and key not in ("confusion_matrix_png",):
            table.add_row(key, str(value))
    for name, acc in (metrics.get("per_class_accuracy") or {}).items():
        table.add_row(escape(f"accuracy[{name}]"), f"{acc:.4f}")  # a class name is not Rich markup
    return table


def accepted(meta: dict, tp) -> str:
    """What a config field accepts, from its metadata: choices, or a type with its range."""
    if meta.get("choices"):
        return " | ".join(map(str, meta["choices"]))
    kind = {int: "integer", float: "number", bool: "true | false", str: "text", list: "list",
            dict: "mapping"}.get(tp, str(tp))
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and hi is not None:
        return f"{kind} in [{lo:g}, {hi:g}]"
    if lo is not None:
        return f"{kind} {'>' if meta.get('exclusive_min') else '>='} {lo:g}"
    return kind


def config_rows(cfg=None) -> list[tuple[str, str, str, str]]:
    """(key, default or this config's value, accepted values, meaning) for every config key."""
    import typing

    from xaicli.config import SECTIONS, Config

    top = Config() if cfg is None else cfg
    rows = []
    for f in dataclasses.fields(Config):
        if f.name in SECTIONS:
            section = getattr(top, f.name)
            hints = typing.get_type_hints(SECTIONS[f.name])
            for g in dataclasses.fields(SECTIONS[f.name]):
                rows.append((f"{f.name}.{g.name}", repr_value(getattr(section, g.name)),
                             accepted(g.metadata, hints[g.name]), g.metadata.get("help", "")))
        else:
            rows.append((f.name, repr_value(getattr(top, f.name)),
                         accepted(f.metadata, typing.get_type_hints(Config)[f.name]), f.metadata.get("help", "")))
    return rows


def repr_value(value) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def config_fields_table(cfg=None):
    from rich.table import Table

    table = Table(title="config keys (xai train CONFIG KEY=VALUE ...)", show_lines=False)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("default" if cfg is None else "value", no_wrap=True)
    table.add_column("accepts")
    table.add_column("meaning")
    for row in config_rows(cfg):
        table.add_row(*row)
    return table


def config_fields_text(cfg=None) -> str:
    """The same as config_fields_table, one key a line, for a file or a pipe."""
    lines = []
    for key, value, accepts, meaning in config_rows(cfg):
        lines.append(f"{key} = {value}    [{accepts}]    {meaning}")
    return "\n".join(lines)
