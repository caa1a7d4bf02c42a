"""`xai runs`: every run under a folder as one summary (name, kind, data, model, status, epochs, best
score, evaluation, start, duration), newest first, with filters.

Read from each run's small files only (meta.json, metrics.csv's header and last row, eval/metrics.json;
config.yaml only for runs whose meta.json predates the kind, model and planned epochs), never from
checkpoints and without torch: 200 runs list in well under a second (bench/cli.py).
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from datetime import datetime
from pathlib import Path

from xaicli.errors import ConfigError
from xaicli.runs.status import STATUSES, run_status

MAX_DEPTH = 4  # runs/<sweep>/<point> sits at depth 2; deeper folders are not searched
EVAL_METRICS = ("accuracy", "fid")  # the headline of eval/metrics.json, classifier then GAN
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def is_run_dir(path: Path) -> bool:
    """A folder `xai train` made: config.yaml with meta.json or log.txt (written within moments of each
    other; a copied config.yaml alone, as in an MLflow artifact folder, is not a run)."""
    return (path / "config.yaml").is_file() and ((path / "meta.json").is_file() or (path / "log.txt").is_file())


def find_runs(root: Path) -> list[Path]:
    """Run directories under `root`, or `root` itself when it is one. A run's own subfolders, hidden
    folders and symlinks (`runs/latest`) are not searched."""
    if is_run_dir(root):
        return [root]
    found: list[Path] = []
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir(follow_symlinks=False):
                continue
            path = Path(entry.path)
            if is_run_dir(path):
                found.append(path)
            elif depth + 1 < MAX_DEPTH:
                stack.append((path, depth + 1))
    return found


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_config(path: Path) -> dict:
    """A run's config.yaml as a plain dict ({} when unreadable: one bad run must not hide the others)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def csv_epochs(path: Path) -> tuple[list[str], int | None]:
    """metrics.csv's columns and the epoch of its last row (the epochs done)."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError:
        return [], None
    if not lines:
        return [], None
    header = lines[0].split(",")
    if len(lines) < 2 or "epoch" not in header:
        return header, None
    try:
        return header, int(float(lines[-1].split(",")[header.index("epoch")]))
    except (ValueError, IndexError):
        return header, None


def parse_time(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, TIME_FORMAT).timestamp()
    except ValueError:
        return None


def attempts(meta: dict) -> list[dict]:
    """Every attempt of a run, oldest first (a resumed run keeps the earlier ones in previous_attempts)."""
    earlier = meta.get("previous_attempts")
    return [*(a for a in earlier if isinstance(a, dict))] + [meta] if isinstance(earlier, list) else [meta]


def run_seconds(meta: dict, running: bool, now: float) -> float | None:
    """Time spent training, summed over attempts (the current one up to now while it runs)."""
    total, known = 0.0, False
    for i, attempt in enumerate(attempts(meta)):
        start = parse_time(attempt.get("start_time"))
        end = parse_time(attempt.get("end_time"))
        if end is None and running and i == len(attempts(meta)) - 1:
            end = now
        if start is not None and end is not None:
            total, known = total + max(0.0, end - start), True
    return total if known else None


def guess_kind(columns: list[str]) -> str | None:
    """Runs written before meta.json named their kind: their metric columns tell."""
    if "d_loss" in columns or "g_loss" in columns:
        return "gan"
    if "train_loss" in columns or "val_accuracy" in columns:
        return "classifier"
    return None


def headline_eval(evaluation: dict | None) -> dict | None:
    if not evaluation:
        return None
    for key in EVAL_METRICS:
        if isinstance(evaluation.get(key), (int, float)):
            return {"metric": key, "value": evaluation[key], "split": evaluation.get("split"),
                    "checkpoint": evaluation.get("checkpoint")}
    return None


def best_score(meta: dict) -> tuple[str | None, float | None, int | None]:
    """The best monitored score: this attempt's, else the latest earlier attempt's (a resumed run writes
    its own when it ends)."""
    for attempt in reversed(attempts(meta)):
        if attempt.get("best") is not None:
            return attempt.get("monitor"), attempt.get("best"), attempt.get("best_epoch")
    return meta.get("monitor"), None, None


def _section(cfg: dict, name: str) -> dict:
    value = cfg.get(name)
    return value if isinstance(value, dict) else {}


def summarize(run_dir: Path, root: Path, now: float | None = None) -> dict:
    """One run as a flat dict (what `xai runs --json` prints)."""
    now = time.time() if now is None else now
    meta = read_json(run_dir / "meta.json")
    known = meta is not None and all(meta.get(k) is not None for k in ("kind", "model", "epochs"))
    cfg = {} if known else read_config(run_dir / "config.yaml")  # runs from before meta.json said it all
    evaluation = read_json(run_dir / "eval" / "metrics.json")
    columns, epochs = csv_epochs(run_dir / "metrics.csv")
    status = run_status(run_dir, meta, now)
    meta = meta or {}
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    monitor, best, best_epoch = best_score(meta)
    first = attempts(meta)[0]
    try:
        name = run_dir.relative_to(root).as_posix() if run_dir != root else run_dir.name
    except ValueError:
        name = run_dir.name
    return {
        "name": name, "path": str(run_dir),
        "kind": meta.get("kind") or (evaluation or {}).get("kind") or guess_kind(columns),
        "dataset": data.get("dataset") or _section(cfg, "data").get("name"),
        "model": meta.get("model") or _section(cfg, "model").get("name"),
        "status": status.status, "status_detail": status.detail,
        "epochs": epochs or 0, "planned_epochs": meta.get("epochs") or _section(cfg, "train").get("epochs"),
        "monitor": monitor, "best": best, "best_epoch": best_epoch,
        "eval": headline_eval(evaluation),
        "start_time": first.get("start_time"), "end_time": meta.get("end_time"),
        "seconds": run_seconds(meta, status.status == "running", now),
        "exit_code": meta.get("exit_code"),
        "attempts": len(attempts(meta)) if meta else 0,
    }


def _sort_key(row: dict, run_dir: Path) -> float:
    started = parse_time(row.get("start_time"))
    if started is not None:
        return started
    try:
        return run_dir.stat().st_mtime
    except OSError:
        return 0.0


def list_runs(root: str | Path = "runs", kind: str | None = None, name: str | None = None,
              status: str | None = None) -> list[dict]:
    """Summaries of the runs under `root`, newest first; `name` is a glob matched against the run's path
    under `root` and against its folder name."""
    path = Path(root)
    if not path.is_dir():
        raise ConfigError(f"{path}: no such folder of runs (train one with xai train CONFIG, or name the "
                          f"folder that holds them)")
    if status is not None and status not in STATUSES:
        raise ConfigError(f"--status {status}: expected one of {', '.join(STATUSES)}")
    if kind is not None:
        from xaicli.registry import did_you_mean
        from xaicli.tasks import TASKS

        kinds = TASKS.declared_names()
        if kind not in kinds:
            raise ConfigError(f"--kind {kind}: expected one of {', '.join(kinds)}{did_you_mean(kind, kinds)}")
    now = time.time()
    rows = []
    for run_dir in find_runs(path):
        row = summarize(run_dir, path, now)
        if kind is not None and row["kind"] != kind:
            continue
        if status is not None and row["status"] != status:
            continue
        if name is not None and not (fnmatch.fnmatch(row["name"], name) or fnmatch.fnmatch(run_dir.name, name)):
            continue
        rows.append((_sort_key(row, run_dir), row))
    rows.sort(key=lambda pair: pair[0], reverse=True)
    return [row for _, row in rows]
