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


def training_curves(epochs: list[dict], path: Path) -> None:
    """Loss curves on the left, accuracy (or other [0, 1] metrics) on the right."""
    if not epochs:
        return
    plt = _plt()
    x = [r["epoch"] for r in epochs]
    keys = [k for k in epochs[-1] if k not in ("kind", "epoch", "seconds", "lr", "step", "time")
            and isinstance(epochs[-1][k], (int, float))]
    loss_keys = [k for k in keys if "loss" in k]
    other = [k for k in keys if k not in loss_keys]
    fig, axes = plt.subplots(1, 2 if other else 1, figsize=(10 if other else 5, 3.5), squeeze=False)
    for k in loss_keys:
        axes[0][0].plot(x, [r.get(k) for r in epochs], marker="o", label=k)
    axes[0][0].set_xlabel("epoch")
    axes[0][0].set_title("loss")
    axes[0][0].legend()
    if other:
        for k in other:
            axes[0][1].plot(x, [r.get(k) for r in epochs], marker="o", label=k)
        axes[0][1].set_xlabel("epoch")
        axes[0][1].set_title("metrics")
        axes[0][1].legend()
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
