"""Rendering in one place: percentile clipping, a diverging colormap for signed maps and a sequential
one for magnitudes, overlays on the grayscale input, the images x methods grid (inputs in colour),
curves, latent bars."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

SIGNED_CMAP = "RdBu_r"  # blue negative, white zero, red positive
MAGNITUDE_CMAP = "inferno"
CLIP_PERCENTILE = 99.0
SCALE = 4  # overlay pixels per image pixel (28 x 28 digits become 112 x 112)
BASE_FLOOR, BASE_RANGE = 0.12, 0.45  # the input under an overlay, dimmed to [0.12, 0.57] of white


def to_2d(attr: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W): channels summed."""
    return np.nan_to_num(attr.astype(np.float64)).sum(0)


def normalise(a: np.ndarray, signed: bool, pct: float = CLIP_PERCENTILE) -> np.ndarray:
    """Signed maps to [-1, 1] by the percentile of |a|; magnitudes to [0, 1] by the percentile of a."""
    ref = np.percentile(np.abs(a), pct)
    if ref <= 0:
        ref = np.abs(a).max() or 1.0
    lo = -1.0 if signed else 0.0
    return np.clip(a / ref, lo, 1.0)


def gray_rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) image in [0, 1] -> (H, W, 3) grayscale."""
    g = image.mean(0) if image.shape[0] > 1 else image[0]
    return np.repeat(np.clip(g, 0, 1)[..., None], 3, axis=2)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) image in [0, 1] -> (H, W, 3) as it is: colour stays colour, one channel is grey."""
    if image.shape[0] == 3:
        return np.clip(image.transpose(1, 2, 0), 0, 1)
    return gray_rgb(image)


def overlay(image: np.ndarray, attr: np.ndarray, signed: bool) -> np.ndarray:
    """(H, W, 3) floats: the colormapped map over a dimmed grey copy of the input (so bright inputs do not
    wash the map out), opaque where the map is strong."""
    a = normalise(to_2d(attr), signed)
    cmap = plt.get_cmap(SIGNED_CMAP if signed else MAGNITUDE_CMAP)
    heat = cmap((a + 1) / 2 if signed else a)[..., :3]
    alpha = np.clip(np.abs(a), 0, 1)[..., None] * 0.9
    base = BASE_FLOOR + BASE_RANGE * gray_rgb(image)
    return (1 - alpha) * base + alpha * heat


def upscale(rgb: np.ndarray, factor: int = SCALE) -> np.ndarray:
    return rgb.repeat(factor, 0).repeat(factor, 1)


def save_overlay(path: Path, image: np.ndarray, attr: np.ndarray, signed: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, upscale(np.clip(overlay(image, attr, signed), 0, 1)))


def save_grid(path: Path, images: np.ndarray, maps: dict[str, np.ndarray], signed: dict[str, bool],
              row_labels: list[str], panels: list[list[np.ndarray]] | None = None) -> None:
    """Rows: images (labelled with the prediction and its score); columns: the input, then each method;
    below, one colour bar per scale in use (signed, magnitude). Panels sit edge to edge: no empty bands.
    `panels` (per image: the input, then each method's overlay) replaces the drawings made here (photos)."""
    names = list(maps)
    rows, cols = len(images), 1 + len(names)
    kinds = [k for k in (True, False) if any(signed[n] == k for n in names)]
    longest = max((len(line) for label in row_labels for line in label.splitlines()), default=0)
    cell, head, bar_h, pad = 1.25, 0.3, 0.55, 0.04
    label_w = max(1.6, 0.06 * longest)  # inches: room for the longest line of a row label (class names)
    width, height = label_w + cell * cols + 0.1, head + cell * rows + bar_h * len(kinds) + 0.1
    fig = plt.figure(figsize=(width, height))

    def box(left: float, top: float, w: float, h: float):  # inches from the top left -> figure fractions
        return [left / width, 1 - (top + h) / height, w / width, h / height]

    for j, title in enumerate(["input", *names]):
        fig.text((label_w + (j + 0.5) * cell) / width, 1 - (head * 0.55) / height, title, ha="center",
                 va="center", fontsize=7)
    for i in range(rows):
        top = head + i * cell
        fig.text((label_w - 0.08) / width, 1 - (top + cell / 2) / height, row_labels[i], ha="right", va="center",
                 fontsize=6.5)
        row = panels[i] if panels is not None else \
            [as_rgb(images[i])] + [np.clip(overlay(images[i], maps[n][i], signed[n]), 0, 1) for n in names]
        for j, panel in enumerate(row):
            ax = fig.add_axes(box(label_w + j * cell + pad, top + pad, cell - 2 * pad, cell - 2 * pad))
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
    for k, is_signed in enumerate(kinds):
        top = head + rows * cell + k * bar_h + 0.18
        cax = fig.add_axes(box(label_w + 0.1, top, max(1.0, cell * cols - 0.2), 0.12))
        colour_bar(fig, cax, is_signed)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def colour_bar(fig, cax, signed: bool) -> None:
    """The scale of the overlays: signed maps from -1 to 1, magnitudes from 0 to 1, in units of the map's
    99th percentile of |value| (stronger values are clipped)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    norm = Normalize(-1.0, 1.0) if signed else Normalize(0.0, 1.0)
    bar = fig.colorbar(ScalarMappable(norm, plt.get_cmap(SIGNED_CMAP if signed else MAGNITUDE_CMAP)), cax=cax,
                       orientation="horizontal")
    bar.ax.tick_params(labelsize=6)
    label = ("signed maps: blue against the target, red for it" if signed else "magnitude maps")
    bar.set_label(f"{label} (x the 99th percentile of |map|, clipped)", fontsize=6.5)


def save_curves(path: Path, metrics: dict[str, dict], reference: dict | None = None) -> None:
    """Mean deletion and insertion curves per method, the random reference dashed; with ROAD, its
    MoRF (solid) and LeRF (dotted) curves in a third panel."""
    road = any("road" in m for m in metrics.values())
    if not road and not any("deletion_curve" in m for m in metrics.values()):
        return  # neither measure was chosen: no figure
    fig, axes = plt.subplots(1, 3 if road else 2, figsize=(12.5 if road else 9, 3.4))
    ax_d, ax_i = axes[0], axes[1]
    rows = {**metrics, **({"random": reference} if reference else {})}
    for name, m in rows.items():
        if "deletion_curve" not in m:
            continue
        style = {"color": "k", "linestyle": "--"} if m is reference else {}
        xs = np.linspace(0, 1, len(m["deletion_curve"]))
        line = ax_d.plot(xs, m["deletion_curve"], label=name, **style)[0]
        ax_i.plot(xs, m["insertion_curve"], color=line.get_color(), label=name, linestyle=line.get_linestyle())
        if road and "road" in m:
            fr = m["road"]["fractions"]
            axes[2].plot(fr, m["road"]["morf_probability"], color=line.get_color(), linestyle=line.get_linestyle())
            axes[2].plot(fr, m["road"]["lerf_probability"], color=line.get_color(), linestyle=":")
    ax_d.set_title("deletion (lower is better)", fontsize=9)
    ax_i.set_title("insertion (higher is better)", fontsize=9)
    for ax in (ax_d, ax_i):
        ax.set_xlabel("fraction of pixels")
    if road:
        axes[2].set_title("ROAD: MoRF solid (lower is better), LeRF dotted (higher)", fontsize=9)
        axes[2].set_xlabel("fraction of pixels imputed")
    for ax in axes:
        ax.set_ylabel("target probability")
        ax.set_ylim(-0.02, 1.02)
    ax_i.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_latent_bars(path: Path, attr: np.ndarray, title: str, image: np.ndarray | None = None) -> None:
    """One sample's attribution per latent dimension as bars (red positive, blue negative), with G(z)."""
    fig = plt.figure(figsize=(7, 2.4))
    ax = fig.add_axes([0.07, 0.18, 0.7 if image is not None else 0.9, 0.7])
    colors = np.where(attr >= 0, "#c0392b", "#2e6fb7")
    ax.bar(np.arange(len(attr)), attr, color=colors, width=0.9)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("attribution")
    ax.set_title(title, fontsize=9)
    if image is not None:
        ax_img = fig.add_axes([0.8, 0.18, 0.18, 0.7])
        ax_img.imshow(gray_rgb(image), interpolation="nearest")
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        ax_img.set_title("G(z)", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
