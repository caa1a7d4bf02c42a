"""Later commands (eval, explain, sample) use the data a run was trained on, as its meta.json records it,
instead of running `data.source: auto` again (a download attempt, a warning, and possibly other images
once files appear under data.root). `--data-source` chooses another on purpose."""

from __future__ import annotations

from pathlib import Path

from xaicli.errors import ConfigError, XaiError
from xaicli.viz import console

SOURCES = ("auto", "local", "download", "embedded")
PINNABLE = {"local": "local", "download": "local", "embedded": "embedded", "local-or-download": "local"}


def pin(cfg, run_dir: Path, override: str | None) -> dict:
    """Set cfg.data.source (and root) to what the run recorded, or to `override`; returns what was
    recorded ({} when nothing was: a synthetic dataset, or a run older than the record)."""
    from xaicli.runs.preflight import run_meta

    if override is not None:
        if override not in SOURCES:
            raise ConfigError(f"--data-source: expected one of {', '.join(SOURCES)}, found {override!r}")
        cfg.data.source = override
        console.info(f"data: {cfg.data.name} from source {override} (--data-source), not what the run recorded")
        return {}
    recorded = run_meta(run_dir).get("data", {})
    source, path = recorded.get("source"), recorded.get("path")
    if cfg.data.source != "auto" or source not in PINNABLE:
        return {}
    cfg.data.source = PINNABLE[source]
    if cfg.data.source == "local" and path:
        cfg.data.root = str(path)
    console.info(f"data: {cfg.data.name} from {source} ({path}), as the run recorded")
    return recorded


def load_pinned(cfg, recorded: dict):
    """The run's data; when the recorded data is gone, a usage error that says how to choose another."""
    from xaicli.data.registry import load_run_data

    try:
        return load_run_data(cfg)
    except XaiError as exc:
        if not recorded or isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"the run was trained on {cfg.data.name} data from {recorded.get('source')} "
                          f"({recorded.get('path')}), which is not available any more ({exc}); pass "
                          f"--data-source {'|'.join(SOURCES)} to use other data") from None
