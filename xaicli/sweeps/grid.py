"""A sweep's grid from the command line: `key=a,b,c` is an axis, `seed=0:5` a range (Python's: 0 to 4),
a single value a fixed override; the points are every combination, the first axis slowest.

Commas split values only at the top level, so `optim.betas=[0.5,0.999],[0.9,0.999]` is two values.
A sweep is named after what it runs (the resolved base config and the grid), so the same command finds
the same folder again: that is how a killed sweep, rerun, knows which points are done.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field

from xaicli.errors import ConfigError

RANGE = re.compile(r"^(-?\d+):(-?\d+)(?::(-?\d+))?$")
SEED = "seed"
OPEN, CLOSE = "[{(", "]})"


@dataclass(frozen=True)
class Point:
    index: int
    values: dict  # axis key -> value text, in axis order
    overrides: tuple  # every override of this point: the fixed ones, then the axes'
    name: str  # its run directory's name inside the sweep folder

    def group(self) -> tuple:
        """The point without its seed: the runs pooled in the summary's mean +- std."""
        return tuple((k, v) for k, v in self.values.items() if k != SEED)


@dataclass
class Grid:
    axes: dict[str, list[str]] = field(default_factory=dict)  # key -> value texts, in the order given
    fixed: list[str] = field(default_factory=list)  # KEY=VALUE overrides with a single value

    def points(self) -> list[Point]:
        keys = list(self.axes)
        labels = axis_labels(keys)
        out = []
        for index, combo in enumerate(itertools.product(*(self.axes[k] for k in keys))):
            values = dict(zip(keys, combo, strict=True))
            slug = "-".join(f"{labels[k]}_{slugify(v)}" for k, v in values.items())
            out.append(Point(index, values, tuple(self.fixed) + tuple(f"{k}={v}" for k, v in values.items()),
                             f"{index:03d}" + (f"-{slug}" if slug else "")))
        return out

    def to_dict(self) -> dict:
        return {"axes": self.axes, "fixed": self.fixed}


def split_values(text: str) -> list[str]:
    """Split at commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in OPEN:
            depth += 1
        elif ch in CLOSE:
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return [p.strip() for p in parts]


def expand_values(key: str, text: str) -> list[str]:
    """The values of one `key=...` argument: a range a:b[:step], or comma-separated values."""
    found = RANGE.match(text.strip())
    if found:
        start, stop, step = int(found[1]), int(found[2]), int(found[3] or 1)
        if step == 0:
            raise ConfigError(f"sweep: {key}={text}: a range's step cannot be 0")
        values = [str(v) for v in range(start, stop, step)]
        if not values:
            raise ConfigError(f"sweep: {key}={text}: an empty range (a:b runs from a up to b-1, like Python's)")
        return values
    values = split_values(text)
    if len(values) > 1 and any(v == "" for v in values):
        raise ConfigError(f"sweep: {key}={text}: an empty value between commas")
    return values


def parse_grid(arguments: list[str]) -> Grid:
    """Axes and fixed overrides from `KEY=VALUES` arguments; each key once."""
    grid = Grid()
    seen: set[str] = set()
    for argument in arguments:
        if "=" not in argument:
            raise ConfigError(f"sweep: {argument!r}: expected KEY=VALUES, for example optim.lr=1e-3,1e-2 or "
                              f"seed=0:3")
        key, text = argument.split("=", 1)
        key = key.strip()
        if key in seen:
            raise ConfigError(f"sweep: {key} is given twice; list its values once, comma-separated")
        seen.add(key)
        values = expand_values(key, text)
        if len(values) == 1:
            grid.fixed.append(f"{key}={values[0]}")
        else:
            grid.axes[key] = values
    return grid


def axis_labels(keys: list[str]) -> dict[str, str]:
    """Short labels for folder names: a key's last part, or the whole key where two share it."""
    leaves = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: leaf if leaves.count(leaf) == 1 else k.replace(".", "_")
            for k, leaf in zip(keys, leaves, strict=True)}


def slugify(value: str, limit: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", value).strip("_")[:limit] or "x"


def sweep_id(config_text: str, grid: Grid) -> str:
    """Eight hex digits that change with the config file's text or the grid, and with nothing else (not
    with xai's version, whose new config keys would otherwise lose a sweep)."""
    text = json.dumps({"config": config_text, "grid": grid.to_dict()}, sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
