"""Image datasets written on the fly for the folder / CSV tests: real digits from the embedded MNIST
subset, generated colour images in several formats, sizes and modes, and a folder with one of each
defect that `xai data check` must find."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from xaicli.data.embedded import load_embedded

MODES = ("RGB", "L", "RGBA", "P", "LA")


def digits(n: int, split: str = "train", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n embedded MNIST digits of a split, drawn with `seed` (every class present for n >= 30)."""
    a = load_embedded()
    x, y = a[f"x_{split}"], a[f"y_{split}"]
    idx = np.random.default_rng(seed).permutation(len(x))[:n]
    return x[idx], y[idx]


def write_digit_folder(root: Path, n_train: int = 200, n_test: int = 50, held: str | None = "test",
                       names: tuple[str, ...] | None = None) -> Path:
    """ROOT/train/<class>/NNNNN.png and ROOT/<held>/<class>/... (held None: ROOT/<class>/ only)."""
    names = names or tuple(f"digit_{i}" for i in range(10))
    parts = [("train", *digits(n_train, "train"))] + ([(held, *digits(n_test, "test"))] if held else [])
    for split, xs, ys in parts:
        base = root / split if held else root
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            folder = base / names[int(y)]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x).save(folder / f"{i:05d}.png")
    return root


def colour_image(rng: np.random.Generator, label: int, h: int, w: int) -> np.ndarray:
    """A learnable colour picture: the class sets the dominant channel and a stripe direction."""
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = ((xx if label % 2 else yy) // max(2, min(h, w) // 8)) % 2
    img = np.zeros((h, w, 3), np.float64)
    img[..., label % 3] = 140 + 100 * stripes
    img += rng.normal(0, 20, (h, w, 3))
    return img.clip(0, 255).astype(np.uint8)


def save_image(array: np.ndarray, path: Path, mode: str = "RGB", fmt: str | None = None) -> Path:
    image = Image.fromarray(array).convert(mode)
    if fmt == "JPEG" and mode not in ("RGB", "L"):
        image = image.convert("RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt)
    return path


def write_colour_folder(root: Path, per_class: int = 12, classes: tuple[str, ...] = ("cat", "dog", "fox"),
                        splits: tuple[str, ...] = ("train", "val", "test"), seed: int = 0) -> Path:
    """Colour images in PNG, JPEG, BMP and WebP, of mixed sizes (24 to 90 pixels, not square) and modes
    (RGB, grayscale, RGBA, palette, grayscale + alpha), a class per folder."""
    rng = np.random.default_rng(seed)
    formats = (("png", "PNG"), ("jpg", "JPEG"), ("bmp", "BMP"), ("webp", "WEBP"), ("jpeg", "JPEG"))
    k = 0
    for split in splits:
        for label, name in enumerate(classes):
            for i in range(per_class):
                h, w = int(rng.integers(24, 91)), int(rng.integers(24, 91))
                ext, fmt = formats[k % len(formats)]
                mode = MODES[k % len(MODES)] if fmt in ("PNG", "WEBP") else ("L" if k % 7 == 0 else "RGB")
                save_image(colour_image(rng, label, h, w), root / split / name / f"{split}_{i:03d}.{ext}", mode, fmt)
                k += 1
    return root


def png_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt)
    return buf.getvalue()


def write_broken_folder(root: Path) -> dict[str, Path]:
    """A split folder with one of each defect; returns the file or folder of each kind."""
    write_colour_folder(root, per_class=4, classes=("cat", "dog"), splits=("train", "test"))
    rng = np.random.default_rng(1)
    good = png_bytes(colour_image(rng, 0, 32, 32))
    truncated = root / "train" / "cat" / "truncated.png"
    truncated.write_bytes(good[: len(good) // 2])
    corrupt = root / "train" / "dog" / "noise.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff" + bytes(rng.integers(0, 256, 500, dtype=np.uint8)))
    wrong = root / "train" / "dog" / "really_a_jpeg.png"
    wrong.write_bytes(png_bytes(colour_image(rng, 1, 30, 30), "JPEG"))
    empty = root / "test" / "bird"
    empty.mkdir(parents=True)
    (root / "train" / "bird").mkdir()
    (root / "train" / "bird" / "notes.txt").write_text("not an image")
    duplicate = root / "test" / "cat" / "copy.png"
    duplicate.write_bytes((root / "train" / "cat" / "train_000.png").read_bytes())
    return {"truncated": truncated, "corrupt": corrupt, "wrong_extension": wrong,
            "empty_class": root / "train" / "bird", "duplicate": duplicate}


def write_csv(path: Path, rows: list[tuple], header: str = "path,label,split") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path
