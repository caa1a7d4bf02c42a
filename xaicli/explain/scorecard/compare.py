"""Two runs' scorecards side by side (`xai explain RUN_B --compare RUN_A`, or `xai explain --compare
RUN_A RUN_B`): for every section, method and measure both have, A's and B's means with their
intervals and the change from A to B with a bootstrap interval, paired over images when both
explained the same images (same split and indices), else from independent resamples. A change is
"better" or "worse" when its interval excludes zero, in the measure's direction; otherwise "no
clear change". Writes compare.json and compare.html to a new folder and returns it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from xaicli.errors import ConfigError
from xaicli.explain.scorecard import stats
from xaicli.explain.scorecard.html import compare_html
from xaicli.explain.scorecard.text import compare_lines
from xaicli.runs.files import atomic_write_text, write_json
from xaicli.runs.layout import new_output_dir

RESAMPLES = 1000
CHANGE = {"better": "better", "worse": "worse", "indistinguishable": "no clear change", "": ""}


def explain_folder(path: str | Path) -> Path:
    """An explain output folder (it holds manifest.json), or a run's latest one."""
    p = Path(path)
    if (p / "manifest.json").is_file():
        return p
    found = sorted((d for d in (p / "explain").glob("*") if (d / "manifest.json").is_file()),
                   key=lambda d: (len(d.name), d.name)) if (p / "explain").is_dir() else []
    if not found:
        raise ConfigError(f"--compare: {p} is neither an explain folder nor a run with one (run xai explain {p} first)")
    return found[-1]


def load_sections(folder: Path) -> dict[str, dict]:
    """Each section's metrics.json that has a scorecard, by section key."""
    manifest = json.loads((folder / "manifest.json").read_text())
    out = {}
    for key, section in manifest.get("sections", {}).items():
        path = folder / section.get("path", ".") / "metrics.json"
        if path.is_file():
            metrics = json.loads(path.read_text())
            if "scorecard" in metrics:
                out[key] = {"title": section.get("title", key), **metrics}
    if not out:
        raise ConfigError(f"--compare: {folder} has no scorecard (explained before scorecards existed?); "
                          "run xai explain again")
    return out


def _scores(section: dict, row: str, measure: str) -> torch.Tensor | None:
    metrics = section["random"] if row == "random" else section["methods"].get(row, {})
    values = metrics.get("per_image", {}).get(measure)
    return None if values is None else torch.tensor(values, dtype=torch.float64)


def _summary(values: torch.Tensor, boot: torch.Tensor) -> dict:
    lo, hi = stats.interval(boot)
    return {"mean": float(values.nanmean()), "lo": float(lo), "hi": float(hi)}


def compare_section(a: dict, b: dict, seed: int = 0) -> dict:
    """One section of both runs: rows and measures they share, A, B and the change B - A."""
    paired = a.get("indices") is not None and a.get("indices") == b.get("indices")
    rows = [r for r in a["scorecard"]["rows"] if r in b["scorecard"]["rows"]]
    measures = [m for m in a["scorecard"]["measures"] if m["name"] in {x["name"] for x in b["scorecard"]["measures"]}]
    na, nb = len(a.get("indices") or []), len(b.get("indices") or [])
    ia = stats.resample_indices(max(na, 1), RESAMPLES, seed)
    ib = ia if paired else stats.resample_indices(max(nb, 1), RESAMPLES, seed + 1)
    table: dict[str, dict] = {}
    for row in rows:
        table[row] = {}
        for m in measures:
            sa, sb = _scores(a, row, m["name"]), _scores(b, row, m["name"])
            if sa is None or sb is None or sa.isnan().all() or sb.isnan().all():
                continue
            ba, bb = stats.resampled_means(sa, ia), stats.resampled_means(sb, ib)
            diff = bb - ba
            change = stats.verdict(stats.orientation(m["better"]) * diff.view(1, -1))[0]
            table[row][m["name"]] = {"a": _summary(sa, ba), "b": _summary(sb, bb),
                                     "change": {"mean": float(sb.nanmean() - sa.nanmean()),
                                                "lo": float(stats.interval(diff)[0]),
                                                "hi": float(stats.interval(diff)[1]),
                                                "verdict": CHANGE[change]}}
    return {"title": b.get("title", ""), "paired": paired, "images": [na, nb], "rows": rows, "measures": measures,
            "table": table, "ranking": {"a": a["scorecard"]["ranking"], "b": b["scorecard"]["ranking"]}}


def compare(path_a: str | Path, path_b: str | Path, out: str | None = None, log=None) -> Path:
    """Compare the scorecards of A (before) and B (after); write compare.json and compare.html."""
    fa, fb = explain_folder(path_a), explain_folder(path_b)
    sa, sb = load_sections(fa), load_sections(fb)
    shared = [k for k in sb if k in sa]
    if not shared:
        raise ConfigError(f"--compare: {fa} and {fb} share no section (sections: {', '.join(sa)} / {', '.join(sb)})")
    result = {"a": str(fa), "b": str(fb), "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "resamples": RESAMPLES,
              "sections": {k: compare_section(sa[k], sb[k]) for k in shared}}
    run_b = Path(json.loads((fb / "manifest.json").read_text()).get("run") or fb)
    folder = new_output_dir(run_b if run_b.is_dir() else fb, "compare", out)
    write_json(folder / "compare.json", result)
    atomic_write_text(folder / "compare.html", compare_html(result))
    if log:
        for line in compare_lines(result):
            log(line)
    return folder
