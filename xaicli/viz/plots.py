"""Figures written into the run directory (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path


def _save(fig, path: Path) -> None:
    """The figure as PNG bytes, written atomically (a symlink at `path` is replaced, never followed)."""
    import io

    from xaicli.runs.files import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(Path(path), buf.getvalue())


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


MARKER_EPOCHS = 20  # runs up to this many epochs get a marker per point


def training_curves(epochs: list[dict], path: Path, title: str = "") -> None:
    """Loss curves, [0, 1] metrics (accuracy) and the learning rate, one panel each, against whole epochs."""
    if not epochs:
        return
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    x = [r["epoch"] for r in epochs]
    keys = [k for k in epochs[-1] if k not in ("kind", "epoch", "seconds", "lr", "step", "time")
            and isinstance(epochs[-1][k], (int, float))]
    panels = [("loss", [k for k in keys if "loss" in k])]
    panels.append(("metrics", [k for k in keys if k not in panels[0][1]]))
    panels.append(("learning rate (end of epoch)", ["lr"] if any("lr" in r for r in epochs) else []))
    panels = [(name, ks) for name, ks in panels if ks]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    marker = "o" if len(x) <= MARKER_EPOCHS else None
    for ax, (name, ks) in zip(axes[0], panels, strict=True):
        for k in ks:
            ax.plot(x, [r.get(k) for r in epochs], marker=marker, markersize=3, label=k)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if name.startswith("learning rate"):
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        else:
            ax.legend(fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    try:
        _save(fig, path)
    finally:
        plt.close(fig)


def confusion_matrix(matrix: list[list[int]], class_names: list[str], path: Path) -> None:
    plt = _plt()
    n = len(matrix)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.55 * n))
    ax.imshow(matrix, cmap="Blues")
    top = max(max(r) for r in matrix) or 1
    for i in range(n):
        for j in range(n):
            v = matrix[i][j]
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v > top / 2 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix")
    fig.tight_layout()
    try:
        _save(fig, path)
    finally:
        plt.close(fig)


def comparison_curves(runs: dict[str, list[dict]], path: Path, exclude: tuple = ("kind", "epoch", "seconds"),
                      max_panels: int = 8) -> None:
    """Several runs' epoch curves in one figure: a panel per metric (losses first), a line per run."""
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    keys: list[str] = []
    for rows in runs.values():
        for row in rows:
            keys += [k for k, v in row.items() if k not in keys and k not in exclude
                     and isinstance(v, (int, float)) and not isinstance(v, bool)]
    keys = sorted(keys, key=lambda k: (k == "lr", "loss" not in k, k))[:max_panels]
    if not keys:
        return
    cols = min(len(keys), 4)
    rows_n = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.0 * cols, 3.2 * rows_n), squeeze=False)
    longest = max((len(rows) for rows in runs.values()), default=0)
    marker = "o" if longest <= MARKER_EPOCHS else None
    for ax, key in zip(axes.flat, keys, strict=False):
        for name, rows in runs.items():
            points = [(r["epoch"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
            if points:
                ax.plot(*zip(*points, strict=True), marker=marker, markersize=3, label=name)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * ((len(labels) - 1) // 4), 1, 1))
    try:
        _save(fig, path)
    finally:
        plt.close(fig)
