"""The scorecard of one section: every scored measure for every method and for the random-attribution
reference, as a mean with a bootstrap interval over images; whether each method is distinguishable
from random; a ranking with intervals that says which methods are distinguishable from each other;
and how much the measures agree on the order of the methods.

Ranking: for each ranked measure (faithfulness and randomisation; complexity is shown, not ranked)
the rows, random included, are ranked by their mean (1 = best); a row's score is its rank averaged
over the measures. The same resampled images serve every measure and row, so the interval of the
mean rank and the paired difference of two rows' mean ranks come from one bootstrap: two rows are
distinguishable when the interval of that difference excludes zero.
"""

from __future__ import annotations

import torch

from xaicli.explain.measures.base import Column, Settings
from xaicli.explain.measures.ranks import spearman_rows
from xaicli.explain.measures.reference import NAME as RANDOM
from xaicli.explain.scorecard import stats


def score_matrix(rows: dict[str, dict], cols: list[Column], n: int) -> torch.Tensor:
    """(M, R, n) per-image scores, NaN where a row has none."""
    out = torch.full((len(cols), len(rows), n), float("nan"), dtype=torch.float64)
    for r, metrics in enumerate(rows.values()):
        for m, col in enumerate(cols):
            values = metrics.get("per_image", {}).get(col.name)
            if values is not None:
                out[m, r] = torch.tensor(values, dtype=torch.float64)
    return out


def _float(x) -> float | None:
    x = float(x)
    return None if x != x else x


def measure_table(names: list[str], cols: list[Column], scores: torch.Tensor, means: torch.Tensor,
                  conf: float) -> dict:
    """{row: {measure: {mean, lo, hi, vs_random}}} with the random row as the reference."""
    point = scores.nanmean(-1)
    lo, hi = stats.interval(means, conf)
    ref = names.index(RANDOM)
    sign = torch.tensor([stats.orientation(c.better) for c in cols], dtype=torch.float64).view(-1, 1, 1)
    vs = stats.verdict(sign * (means - means[:, ref:ref + 1]), conf)
    table: dict[str, dict] = {}
    for r, name in enumerate(names):
        table[name] = {}
        for m, col in enumerate(cols):
            if point[m, r].isnan():
                continue
            table[name][col.name] = {"mean": _float(point[m, r]), "lo": _float(lo[m, r]), "hi": _float(hi[m, r]),
                                     "vs_random": "" if r == ref else vs[m * len(names) + r]}
    return table


def ranking(names: list[str], cols: list[Column], scores: torch.Tensor, means: torch.Tensor, conf: float) -> list:
    """Rows by mean rank over the ranked measures, with intervals and the rows each one is ahead of."""
    ranked = [m for m, c in enumerate(cols) if c.ranked and not scores[m].isnan().all()]
    if not ranked:
        return []
    sign = torch.tensor([stats.orientation(cols[m].better) for m in ranked], dtype=torch.float64).view(-1, 1, 1)
    point = sign[:, :, 0] * scores[ranked].nanmean(-1)  # (K, R)
    boot = sign * means[ranked]  # (K, R, B)
    rank_point = torch.stack([stats.average_ranks_of_rows(p.unsqueeze(-1))[:, 0] for p in point]).nanmean(0)
    rank_boot = torch.stack([stats.average_ranks_of_rows(b) for b in boot]).nanmean(0)  # (R, B)
    lo, hi = stats.interval(rank_boot, conf)
    counted = (~point.isnan()).sum(0)
    out = []
    for r in sorted(range(len(names)), key=lambda i: (float(rank_point[i].nan_to_num(1e9)), names[i])):
        if counted[r] == 0:
            continue
        diffs = rank_boot - rank_boot[r]  # positive: the other row ranks worse
        verdicts = stats.verdict(diffs, conf)
        ahead = [names[j] for j in range(len(names)) if j != r and verdicts[j] == "better"]
        behind = [names[j] for j in range(len(names)) if j != r and verdicts[j] == "worse"]
        out.append({"method": names[r], "mean_rank": _float(rank_point[r]), "lo": _float(lo[r]), "hi": _float(hi[r]),
                    "measures": int(counted[r]), "ahead_of": ahead, "behind": behind})
    for entry in out:
        entry["vs_random"] = ("" if entry["method"] == RANDOM else "better" if RANDOM in entry["ahead_of"]
                              else "worse" if RANDOM in entry["behind"] else "indistinguishable")
    return out


def agreement(names: list[str], cols: list[Column], scores: torch.Tensor) -> dict:
    """Spearman's correlation between measures of the methods' mean scores (the random row left
    out), each measure oriented so that +1 means the same order of methods and -1 the reverse."""
    methods = [r for r, name in enumerate(names) if name != RANDOM]
    used = [m for m in range(len(cols)) if not scores[m, methods].isnan().all()]
    sign = torch.tensor([stats.orientation(cols[m].better) for m in used], dtype=torch.float64).view(-1, 1)
    point = sign * scores[used][:, methods].nanmean(-1)  # (K, methods)
    matrix: list[list[float | None]] = []
    for a in range(len(used)):
        row = []
        for b in range(len(used)):
            both = ~(point[a].isnan() | point[b].isnan())
            rho = spearman_rows(point[a][both].view(1, -1), point[b][both].view(1, -1))[0] if both.sum() >= 3 \
                else torch.tensor(float("nan"))
            row.append(_float(rho))
        matrix.append(row)
    return {"measures": [cols[m].name for m in used], "labels": [cols[m].label for m in used],
            "spearman": matrix, "methods": len(methods),
            "note": "" if len(methods) >= 3 else "needs at least 3 methods"}


def build(results: dict[str, dict], reference: dict, cols: list[Column], settings: Settings) -> dict:
    """The section's scorecard; also writes each row's means, intervals and verdicts against random
    into its metrics (keys: the column's name, `intervals`, `vs_random`)."""
    rows = {**results, RANDOM: reference}
    names = list(rows)
    cols = [c for c in cols if c.scored]
    n = max((len(v) for m in rows.values() for v in m.get("per_image", {}).values()), default=0)
    scores = score_matrix(rows, cols, n)
    present = [m for m in range(len(cols)) if not scores[m].isnan().all()]  # random logit: not on one logit
    cols, scores = [cols[m] for m in present], scores[present]
    conf = settings.confidence
    means = stats.resampled_means(scores, stats.resample_indices(n, settings.bootstrap, settings.seed)) if n else \
        torch.full((len(cols), len(names), 1), float("nan"), dtype=torch.float64)
    table = measure_table(names, cols, scores, means, conf)
    for name, metrics in rows.items():
        for col, cell in table[name].items():
            metrics[col] = cell["mean"]
            metrics.setdefault("intervals", {})[col] = [cell["lo"], cell["hi"]]
            if cell["vs_random"]:
                metrics.setdefault("vs_random", {})[col] = cell["vs_random"]
    return {"confidence": conf, "bootstrap": settings.bootstrap, "images": n, "seed": settings.seed,
            "measures": [{"name": c.name, "label": c.label, "better": c.better, "family": c.family,
                          "ranked": c.ranked} for c in cols],
            "rows": names, "table": table, "ranking": ranking(names, cols, scores, means, conf),
            "agreement": agreement(names, cols, scores)}
