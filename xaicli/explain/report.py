"""report.html: one self-contained page (images as data URIs, no external URLs) per explain folder."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from xaicli.explain import measures
from xaicli.explain.pipeline import folder_name
from xaicli.explain.scorecard.html import STYLE as CARD_STYLE
from xaicli.explain.scorecard.html import scorecard_html
from xaicli.explain.style import PAGE
from xaicli.runs.files import atomic_write_text

STYLE = PAGE + CARD_STYLE


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _fmt(v) -> str:
    return "" if v is None else (f"{v:.3f}" if isinstance(v, float) else html.escape(str(v)))


ARROWS = {"lower": " &darr;", "higher": " &uarr;", "": ""}


def metric_table(methods: dict[str, dict], cols=None) -> str:
    """One row per method, one column per column that is not a per-image score (the randomization
    verdict, timing, degenerate maps, and any such column a measure declares), arrows for better."""
    cols = [c for c in (measures.columns() if cols is None else cols) if not c.scored]
    head = "<tr><th>method</th>" + "".join(f"<th>{html.escape(c.label)}{ARROWS[c.better]}</th>" for c in cols) + "</tr>"
    rows = []
    for name, m in methods.items():
        cells = []
        for c in cols:
            value = c.cell(m)
            attr = f" class='{html.escape(str(value))}'" if c.classed else ""
            cells.append(f"<td{attr}>{_fmt(value)}</td>")
        rows.append(f"<tr><td>{html.escape(name)}</td>{''.join(cells)}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def warnings_html(section: dict) -> str:
    out = []
    for name, reason in section.get("skipped", {}).items():
        out.append(f"<div class='warn'>{html.escape(name)} skipped: {html.escape(reason)}</div>")
    for name, m in section.get("methods", {}).items():
        for kind, found in m.get("degenerate", {}).items():
            out.append(f"<div class='warn'>{html.escape(name)}: {kind} map for image(s) "
                       f"{', '.join(map(str, found['images']))}; likely cause: {html.escape(found['cause'])}</div>")
    for note in section.get("notes", []):
        out.append(f"<div class='warn'>{html.escape(note)}</div>")
    return "".join(out)


def overlays_html(folder: Path, methods: dict, labels: dict[str, str]) -> str:
    """A row of overlays per method; each image's title says its number, prediction, label and target by
    class name (its row label, which starts with the number). Only the images with a label (those measured
    and shown) are drawn: a folder of 10,000 explained files keeps its other overlays on disk."""
    rows = []
    for name in methods:
        files = [folder / folder_name(name) / f"{idx}.png" for idx in labels] if labels else \
            sorted((folder / folder_name(name)).glob("*.png"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0)
        files = [p for p in files if p.is_file()]
        imgs = "".join(f"<img src='{data_uri(p)}' title='{html.escape(name)}: "
                       f"{html.escape(labels.get(p.stem, '#' + p.stem))}' alt='{p.stem}'>" for p in files)
        rows.append(f"<div class='row'><b>{html.escape(name)}</b>{imgs}</div>")
    return "".join(rows)


def predictions_html(predictions: list[dict]) -> str:
    """One row per image: its name and its most probable classes with their probabilities."""
    rows = []
    for p in predictions:
        top = "".join(f"<li>{html.escape(str(name))} <b>{prob:.3f}</b></li>" for name, prob in p["top"])
        rows.append(f"<tr><td>#{p['index']}</td><td>{html.escape(Path(p['image']).name)}</td>"
                    f"<td style='text-align:left'><ol>{top}</ol></td></tr>")
    return ("<h3>Predictions</h3><table class='predictions'><tr><th></th><th>image</th>"
            f"<th>top {len(predictions[0]['top'])} classes (probability)</th></tr>{''.join(rows)}</table>")


def section_html(root: Path, key: str, section: dict) -> str:
    folder = root / section.get("path", ".")
    parts = [f"<h2>{html.escape(section.get('title', key))}</h2>", warnings_html(section)]
    if section.get("files", 0) > len(section.get("labels", {})):
        parts.append(f"<p class='meta'>{section['files']:,} image files explained: the first "
                     f"{len(section['labels'])} are measured and shown here; every file's overlays are in the "
                     "methods' folders, its maps in attributions.npz and its top classes in predictions.csv.</p>")
    if section.get("predictions"):
        parts.append(predictions_html(section["predictions"]))
    if section.get("layer"):
        parts.append(f"<p class='meta'>class activation maps read layer <code>{html.escape(section['layer']['name'])}"
                     f"</code> ({html.escape(section['layer']['rule'])}"
                     f"{html.escape('; ' + section['layer']['grid']) if section['layer'].get('grid') else ''})</p>")
    if section.get("methods"):
        if section.get("scorecard"):
            parts.append(scorecard_html(section["scorecard"]))
        parts.append("<h3>Details</h3>" + metric_table(section["methods"]))
        for name in ("grid.png", "curves.png"):
            if (folder / name).is_file():
                parts.append(f"<p><img class='wide' src='{data_uri(folder / name)}' alt='{name}'></p>")
            if name == "grid.png" and section.get("labels"):
                parts.append("<p class='meta'>" + "<br>".join(html.escape(v) for v in section["labels"].values())
                             + "</p>")  # each label starts with its image's number
        parts.append(overlays_html(folder, section["methods"], section.get("labels", {})))
    for png in section.get("figures", []):
        parts.append(f"<p><img class='wide' src='{data_uri(folder / png)}' alt='{html.escape(png)}'></p>")
    return "".join(parts)


def measures_help(rule: str) -> str:
    """What each measure does, folded under a summary line."""
    items = [
        ("deletion / insertion", "pixels are set to the darkest value, most important first (deletion: the "
         "target's probability should fall fast, low area), or restored in that order on a dark image "
         "(insertion: high area). Petsiuk et al. 2018."),
        ("ROAD MoRF / LeRF, SRG", "a fraction of the pixels, most (MoRF) or least (LeRF) relevant first, is filled by "
         "noisy linear imputation from the neighbours, so the removal itself does not look unusual to the model; "
         "the score is the target's probability averaged over the fractions. SRG = LeRF - MoRF. Rong et al. 2022, "
         "Bluecher et al. 2024."),
        ("pixel flipping", "square patches, ranked by the attribution they hold, are set to black on every channel, "
         "most relevant first; area under the probability curve (low is better)."),
        ("MPRT", f"cascading model parameter randomization (Adebayo et al. 2018): {rule}. Methods that multiply by "
         "(input - baseline), such as integrated gradients and occlusion with the black baseline, give zero to every "
         "pixel equal to the baseline whatever the weights, so their correlation stays higher (Adebayo et al. saw "
         "the same)."),
        ("smooth / efficient MPRT", "Hedstroem et al. 2023: the correlation after averaging each map over noisy "
         "copies of the input (low is better); the relative rise in the map's histogram entropy once every layer is "
         "randomized (high is better)."),
        ("random logit", "correlation of the map for the target with the map for another class drawn at random "
         "(Sixt et al. 2020; low is better)."),
        ("sparseness, complexity", "Gini index and entropy of the map's magnitudes: how concentrated it is, not "
         "whether it is right, so they are not ranked."),
        ("random", "a map of uniform noise per pixel, measured exactly like a method: the score of chance, and a map "
         "that fails every randomisation test because it ignores the weights."),
    ]
    rows = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in items)
    return f"<details class='meta'><summary>What the measures mean</summary><ul>{rows}</ul></details>"


def manifest_fields(ecfg, device, started: float, sections: dict[str, dict]) -> dict:
    """What every explain folder's manifest.json holds beside its source (a run, or a model without one):
    the command, times, device, versions, the explain settings and the sections' summaries."""
    import sys
    import time

    from xaicli.runs.meta import device_name, now, versions

    return {
        "command": sys.argv[:], "created": now(), "seconds": round(time.perf_counter() - started, 3),
        "device": str(device), "device_name": device_name(device), "versions": versions(),
        "explain": {k: getattr(ecfg, k) for k in ecfg.__dataclass_fields__},
        "sections": {k: {"title": v["title"], "path": v["path"], "methods": list(v["methods"]),
                         "skipped": v.get("skipped", {}), **({"layer": v["layer"]} if "layer" in v else {})}
                     for k, v in sections.items()},
    }


def source_line(manifest: dict) -> str:
    """What was explained: a run and its checkpoint, or a model without a run and its weights."""
    digest = manifest["checkpoint_sha256"]
    sha = f" (sha256 {html.escape(digest[:16])}&hellip;)" if digest not in ("", "-") else ""
    if manifest.get("run") is None:
        weights = html.escape(manifest["checkpoint"])
        return f"model {html.escape(manifest['model'])} without a run, weights {weights}{sha}"
    return f"run {html.escape(manifest['run'])}<br>checkpoint {html.escape(manifest['checkpoint'])}{sha}"


def write_report(root: Path, manifest: dict, sections: dict[str, dict]) -> Path:
    rule = next((m["randomization"]["rule"] for s in sections.values() for m in s.get("methods", {}).values()
                 if "randomization" in m),
                "the randomization test was not run (explain.sanity: false, or mprt not in explain.measures)")
    body = [
        f"<h1>xai explain: {html.escape(manifest['model'])}</h1>",
        f"<p class='meta'>{source_line(manifest)}<br>device {html.escape(manifest['device_name'])}, "
        f"{manifest['created']}, {manifest['seconds']:.1f} s</p>",
        "<p class='meta'>Which method should you trust for this model? Each method's maps are measured for "
        "faithfulness (do the pixels it ranks first matter to the model?) and randomisation (do its maps change "
        "when the model's weights are destroyed?), each score beside the same measure of a random map, and the "
        "methods are ranked. Red is positive attribution, blue negative; magnitudes are drawn from black to "
        "yellow; colours are clipped at the 99th percentile.</p>",
        measures_help(rule),
    ]
    body += [section_html(root, k, s) for k, s in sections.items()]
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>xai explain - "
            f"{html.escape(manifest['model'])}</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>")
    path = root / "report.html"
    atomic_write_text(path, page)
    return path
