"""The scorecard in report.html: measures down and methods across (so six methods fit a laptop
screen), each cell a mean over its bootstrap interval, tinted by the comparison with the random
reference; the ranking with its intervals drawn to scale; the agreement between measures."""

from __future__ import annotations

import html

from xaicli.explain.style import PAGE

STYLE = """
table.card td{vertical-align:top}table.card td small{display:block;color:#666;font-size:.8em;white-space:nowrap}
td.better{background:#e3f4e6}td.worse{background:#fbe4e1}tr.family td{background:#fafafa;font-weight:600;
text-align:left;color:#444}th.m{max-width:9em;word-break:normal;overflow-wrap:anywhere}
.bar{position:relative;width:12em;height:.9em;background:#f0f0f0;display:inline-block;vertical-align:middle}
.bar span{position:absolute;top:0;bottom:0;background:#7aa6d6}.bar i{position:absolute;top:-.15em;bottom:-.15em;
width:2px;background:#1f3d66}table.agree td{min-width:2.6em;text-align:center}
table.agree td:first-child{text-align:left;white-space:nowrap}table.rank td{white-space:nowrap}
table.rank td:nth-child(2),table.rank th:nth-child(2),table.rank td:last-child,table.rank th:last-child{text-align:left}
table.rank td:last-child{white-space:normal}
"""
FAMILIES = ("faithfulness", "randomisation", "complexity")
ARROWS = {"lower": " &darr;", "higher": " &uarr;", "": ""}
VERDICT_TEXT = {"better": "better than random", "worse": "worse than random",
                "indistinguishable": "not distinguishable from random", "": ""}


def number(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"


def method_header(name: str) -> str:
    """A column header that may break after underscores and colons (long method names)."""
    return html.escape(name).replace("_", "_<wbr>").replace(":", ":<wbr>")


def _cell(entry: dict | None) -> str:
    if not entry:
        return "<td>n/a</td>"
    verdict = entry["vs_random"]
    title = f" title='{VERDICT_TEXT[verdict]}'" if verdict else ""
    return (f"<td class='{verdict}'{title}>{number(entry['mean'])}"
            f"<small>[{number(entry['lo'])}, {number(entry['hi'])}]</small></td>")


def scorecard_table(card: dict) -> str:
    rows = card["rows"]
    head = "<tr><th>measure</th>" + "".join(f"<th class='m'>{method_header(r)}</th>" for r in rows) + "</tr>"
    body = []
    for family in FAMILIES:
        measures = [m for m in card["measures"] if m["family"] == family]
        if not measures:
            continue
        note = "" if any(m["ranked"] for m in measures) else " (shown, not ranked)"
        body.append(f"<tr class='family'><td colspan='{len(rows) + 1}'>{family}{note}</td></tr>")
        for m in measures:
            body.append(f"<tr><td>{html.escape(m['label'])}{ARROWS[m['better']]}</td>"
                        + "".join(_cell(card["table"][r].get(m["name"])) for r in rows) + "</tr>")
    caption = (f"<p class='meta'>Mean over {card['images']} images, with its {card['confidence']:.0%} bootstrap "
               f"interval ({card['bootstrap']} resamples of the images). Green: better than the random-attribution "
               "reference (the interval of the paired difference excludes zero), red: worse, white: not "
               "distinguishable. &darr; lower is better, &uarr; higher is better.</p>")
    return f"<table class='card'>{head}{''.join(body)}</table>{caption}"


def _bar(entry: dict, rows: int) -> str:
    def at(v: float) -> float:
        return 100 * (v - 1) / max(1, rows - 1)

    lo, hi, mid = at(entry["lo"]), at(entry["hi"]), at(entry["mean_rank"])
    return (f"<span class='bar' title='1 (left) to {rows}'><span style='left:{lo:.1f}%;width:{max(hi - lo, 0.5):.1f}%'>"
            f"</span><i style='left:calc({mid:.1f}% - 1px)'></i></span>")


def ranking_table(card: dict) -> str:
    if not card["ranking"]:
        return ""
    rows = len(card["rows"])
    head = ("<tr><th>#</th><th>method</th><th>mean rank [interval]</th><th>1 &rarr; " + str(rows) + "</th>"
            "<th>against random</th><th>distinguishably ahead of</th></tr>")
    body = []
    for k, e in enumerate(card["ranking"], 1):
        body.append(f"<tr><td>{k}</td><td>{html.escape(e['method'])}</td><td>{number(e['mean_rank'])} "
                    f"[{number(e['lo'])}, {number(e['hi'])}]</td><td>{_bar(e, rows)}</td>"
                    f"<td class='{e['vs_random']}'>{VERDICT_TEXT[e['vs_random']] or 'reference'}</td>"
                    f"<td>{html.escape(', '.join(e['ahead_of'])) or '&ndash;'}</td></tr>")
    ranked = ", ".join(html.escape(m["label"]) for m in card["measures"] if m["ranked"])
    caption = ("<p class='meta'>Each row's rank (1 = best) averaged over the ranked measures (" + ranked + "), "
               "the random reference competing as a row. One bootstrap over images serves every measure, so two rows "
               "are distinguishable when the interval of their paired difference in mean rank excludes zero.</p>")
    return f"<table class='rank'>{head}{''.join(body)}</table>{caption}"


def agreement_table(card: dict) -> str:
    agree = card["agreement"]
    if not agree["measures"] or agree["note"]:
        return f"<p class='meta'>Agreement between measures: {html.escape(agree['note'] or 'nothing to compare')}.</p>"
    n = len(agree["measures"])
    head = "<tr><th>measure</th>" + "".join(f"<th>{i + 1}</th>" for i in range(n)) + "</tr>"
    body = []
    for i, (label, row) in enumerate(zip(agree["labels"], agree["spearman"], strict=True)):
        cells = []
        for v in row:
            shade = "" if v is None else (f" style='background:rgba(26,127,55,{abs(v) * 0.35:.2f})'" if v >= 0
                                          else f" style='background:rgba(192,57,43,{abs(v) * 0.35:.2f})'")
            cells.append(f"<td{shade}>{'n/a' if v is None else f'{v:+.2f}'}</td>")
        body.append(f"<tr><td>{i + 1}. {html.escape(label)}</td>{''.join(cells)}</tr>")
    caption = (f"<p class='meta'>Spearman correlation between measures of the {agree['methods']} methods' means, each "
               "measure oriented so that +1 means the same order of methods (green) and -1 the reverse (red).</p>")
    return f"<table class='agree'>{head}{''.join(body)}</table>{caption}"


def scorecard_html(card: dict) -> str:
    return ("<h3>Scorecard</h3>" + scorecard_table(card) + "<h3>Ranking</h3>" + ranking_table(card)
            + "<h3>Do the measures agree?</h3>" + agreement_table(card))


def _change_cell(e: dict | None) -> str:
    if not e:
        return "<td>n/a</td>"
    v = e["change"]["verdict"]
    css = {"better": "better", "worse": "worse"}.get(v, "")
    c = e["change"]
    return (f"<td class='{css}' title='{v}'>{number(e['a']['mean'])} &rarr; {number(e['b']['mean'])}"
            f"<small>{c['mean']:+.3f} [{number(c['lo'])}, {number(c['hi'])}]</small></td>")


def compare_html(result: dict) -> str:
    """compare.html: one table per section, measures down, methods across, A -> B in each cell."""
    parts = [f"<h1>xai explain: A &rarr; B</h1><p class='meta'>A = {html.escape(result['a'])}<br>"
             f"B = {html.escape(result['b'])}<br>Each cell: A's mean &rarr; B's mean, below it the change B - A with "
             f"its 95% bootstrap interval ({result['resamples']} resamples). Green: B is better (the interval "
             "excludes zero in the measure's direction), red: B is worse, white: no clear change.</p>"]
    for section in result["sections"].values():
        rows = section["rows"]
        pairing = "the same images, paired" if section["paired"] else "different images, resampled independently"
        parts.append(f"<h2>{html.escape(section['title'])}</h2><p class='meta'>{section['images'][0]} and "
                     f"{section['images'][1]} images ({pairing})</p>")
        head = "<tr><th>measure</th>" + "".join(f"<th class='m'>{method_header(r)}</th>" for r in rows) + "</tr>"
        body = "".join(f"<tr><td>{html.escape(m['label'])}{ARROWS[m['better']]}</td>"
                       + "".join(_change_cell(section["table"][r].get(m["name"])) for r in rows) + "</tr>"
                       for m in section["measures"])
        parts.append(f"<table class='card'>{head}{body}</table>")
        for side in ("a", "b"):
            order = ", ".join(f"{html.escape(e['method'])} {number(e['mean_rank'])} [{number(e['lo'])}, "
                              f"{number(e['hi'])}]" for e in section["ranking"][side])
            parts.append(f"<p class='meta'>ranking {side.upper()}: {order}</p>")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>xai explain - compare</title>"
            f"<style>{PAGE}{STYLE}</style></head><body>{''.join(parts)}</body></html>")
