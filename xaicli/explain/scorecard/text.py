"""The scorecard as plain text for the console (standard error): measures down, methods across in
groups that fit the width, then the ranking. ASCII only, so any terminal encoding prints it."""

from __future__ import annotations

MARKS = {"better": "+", "worse": "-", "indistinguishable": "~", "": " "}
WIDTH = 100


def number(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"


def cell(entry: dict | None) -> str:
    if not entry:
        return "n/a"
    return f"{number(entry['mean'])} [{number(entry['lo'])}, {number(entry['hi'])}]{MARKS[entry['vs_random']]}"


def grid(header: list[str], lines: list[list[str]], width: int = WIDTH) -> list[str]:
    """Left-aligned first column, right-aligned others, split into blocks of columns that fit."""
    first = max(len(r[0]) for r in [header, *lines])
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(1, len(header))]
    blocks, current, used = [], [], first
    for i, w in enumerate(widths):
        if current and used + 2 + w > width:
            blocks.append(current)
            current, used = [], first
        current.append(i + 1)
        used += 2 + w
    blocks.append(current)
    out = []
    for block in blocks:
        for row in [header, *lines]:
            out.append(row[0].ljust(first) + "".join("  " + row[i].rjust(widths[i - 1]) for i in block))
        out.append("")
    return out[:-1]


def agreement_lines(agreement: dict) -> list[str]:
    """The measures' agreement as a numbered matrix, or why there is none."""
    if not agreement["measures"] or agreement["note"]:
        return [f"agreement between measures: {agreement['note'] or 'nothing to compare'}"]
    n = len(agreement["measures"])
    label = max(len(x) for x in agreement["labels"]) + 4
    out = [f"agreement between measures: Spearman of the {agreement['methods']} methods' means (+1 the same order, "
           "-1 the reverse)", " " * label + "".join(f"{i + 1:>6}" for i in range(n))]
    for i, (name, row) in enumerate(zip(agreement["labels"], agreement["spearman"], strict=True)):
        out.append(f"{i + 1:>2}. {name}".ljust(label) + "".join("   n/a" if v is None else f"{v:+6.2f}" for v in row))
    return out


def scorecard_lines(card: dict, width: int = WIDTH) -> list[str]:
    """The table, the ranking and the agreement, one string per line."""
    rows = card["rows"]
    header = ["measure", *rows]
    lines = []
    for m in card["measures"]:
        best = {"lower": " (low)", "higher": " (high)"}.get(m["better"], "")
        lines.append([m["label"] + best, *(cell(card["table"][r].get(m["name"])) for r in rows)])
    out = [f"scorecard: {card['images']} images, mean [{card['confidence']:.0%} bootstrap interval]; against the "
           "random reference: + better, - worse, ~ indistinguishable"]
    out += grid(header, lines, width)
    if card["ranking"]:
        out.append("ranking: rank averaged over the ranked measures (1 = best) [interval]")
        for k, entry in enumerate(card["ranking"], 1):
            ahead = f"; ahead of {', '.join(entry['ahead_of'])}" if entry["ahead_of"] else ""
            out.append(f"{k:>2}. {entry['method']}: {number(entry['mean_rank'])} [{number(entry['lo'])}, "
                       f"{number(entry['hi'])}] over {entry['measures']} measures{ahead}")
    return out + agreement_lines(card["agreement"])


CHANGE_MARKS = {"better": "+", "worse": "-", "no clear change": "~", "": " "}


def compare_lines(result: dict, width: int = WIDTH) -> list[str]:
    """Per section: A -> B for every measure and method, marked by the change's verdict."""
    out = [f"compare: A = {result['a']}", f"         B = {result['b']}",
           "mean of A -> mean of B; the change B - A: + better, - worse, ~ no clear change "
           f"({result['resamples']} bootstrap resamples)"]
    for section in result["sections"].values():
        pairing = "the same images, paired" if section["paired"] else "different images, unpaired"
        out.append(f"{section['title']} ({section['images'][0]} and {section['images'][1]} images, {pairing})")
        lines = []
        for m in section["measures"]:
            cells = []
            for row in section["rows"]:
                e = section["table"][row].get(m["name"])
                cells.append("n/a" if not e else f"{number(e['a']['mean'])} -> {number(e['b']['mean'])}"
                             f"{CHANGE_MARKS[e['change']['verdict']]}")
            lines.append([m["label"], *cells])
        out += grid(["measure", *section["rows"]], lines, width)
        for side in ("a", "b"):
            order = ", ".join(f"{e['method']} {number(e['mean_rank'])}" for e in section["ranking"][side])
            out.append(f"ranking {side.upper()}: {order}")
    return out
