"""One image file -> a uint8 (C, S, S) tensor: format read from the content, torchvision's decoders
(PIL for the formats torchvision does not decode: BMP, TIFF, PNM), then torchvision's Resize (shorter
side, bilinear, antialiased) and CenterCrop, so a cached image equals what a torchvision pipeline sees."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

# torchvision 0.29 announces that its decoders will move to TorchCodec; they are the ones this cache
# is defined by (and what a torchvision pipeline reads today), so the notice is not repeated per file
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                        category=DeprecationWarning)

# extensions counted as images when a folder is listed (lower case); other files are read only to
# check whether their content is an image (then they are images with a wrong extension)
EXTENSION_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".jfif": "jpeg",
                     ".bmp": "bmp", ".dib": "bmp", ".webp": "webp", ".gif": "gif", ".tif": "tiff",
                     ".tiff": "tiff", ".pgm": "pnm", ".ppm": "pnm", ".pbm": "pnm", ".pnm": "pnm"}
TORCHVISION_FORMATS = ("png", "jpeg", "webp", "gif")
HEAD_BYTES = 16


class BadImage(Exception):
    """A file that cannot be decoded; the message says why, in a few words."""


def sniff(head: bytes) -> str | None:
    """The image format of a file from its first bytes, or None when it is not an image we read."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"123456" and head[2:3] in b" \t\r\n":
        return "pnm"
    return None


def extension_format(path: str | Path) -> str | None:
    """The format a file's extension promises, or None for a non-image extension."""
    return EXTENSION_FORMATS.get(Path(path).suffix.lower())


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return text.split(", ")[-1][:120] if "/csrc/" in text else text[:120]


def decode_bytes(data: bytes | torch.Tensor, channels: int) -> torch.Tensor:
    """The whole image as uint8 (channels, H, W): 1 is grayscale, 3 is RGB (alpha dropped, palettes
    expanded, 16-bit scaled to 8). `data`: the file's bytes, or them as a uint8 tensor. Raises BadImage."""
    raw = data if isinstance(data, torch.Tensor) else torch.frombuffer(bytearray(data), dtype=torch.uint8)
    fmt = sniff(raw[:HEAD_BYTES].numpy().tobytes())
    if fmt is None:
        raise BadImage("not an image (unrecognised content)" if len(raw) else "empty file")
    try:
        x = _decode_torchvision(raw, fmt, channels) if fmt in TORCHVISION_FORMATS else _decode_pil(raw, channels)
    except BadImage:
        raise
    except Exception as exc:  # each decoder raises its own kind; all mean a damaged file
        raise BadImage(f"{fmt} {_short(exc)}") from None
    if x.ndim != 3 or x.shape[0] != channels or min(x.shape[1:]) < 1:
        raise BadImage(f"{fmt} decoded to an unexpected shape {tuple(x.shape)}")
    return x


def _decode_torchvision(raw: torch.Tensor, fmt: str, channels: int) -> torch.Tensor:
    from torchvision import io
    from torchvision.transforms.v2.functional import rgb_to_grayscale, to_dtype

    mode = io.ImageReadMode.GRAY if channels == 1 else io.ImageReadMode.RGB
    decoder = {"png": io.decode_png, "jpeg": io.decode_jpeg, "webp": io.decode_webp, "gif": io.decode_gif}[fmt]
    x = decoder(raw, mode=mode) if fmt != "gif" else decoder(raw)  # what decode_image calls, minus the dispatch
    if x.ndim == 4:  # an animated GIF: its first frame
        x = x[0]
    if x.dtype != torch.uint8:  # 16-bit PNG
        x = to_dtype(x, torch.uint8, scale=True)
    if x.shape[0] == 3 and channels == 1:  # WebP and GIF decoders ignore the grayscale request
        x = rgb_to_grayscale(x)
    elif x.shape[0] == 1 and channels == 3:
        x = x.expand(3, -1, -1).contiguous()
    return x


def _decode_pil(raw: torch.Tensor, channels: int) -> torch.Tensor:
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(raw.numpy().tobytes())) as im:
        im.load()
        if im.mode.startswith("I;16") or im.mode == "I":
            im = im.point(lambda v: v / 256).convert("L") if channels == 1 else im.convert("RGB")
        a = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    return torch.from_numpy(a.copy()).reshape(a.shape[0], a.shape[1], channels).permute(2, 0, 1).contiguous()


def fit(x: torch.Tensor, size: int, resize_to: int = 0) -> torch.Tensor:
    """torchvision's Resize(resize_to or size) (shorter side, bilinear, antialiased) then CenterCrop(size)."""
    from torchvision.transforms.v2.functional import center_crop, resize

    side = resize_to or size
    if tuple(x.shape[-2:]) != (size, size) or (resize_to and min(x.shape[-2:]) != resize_to):
        x = center_crop(resize(x, [side], antialias=True), [size, size])
    return x.contiguous()


def read_file(path: str | Path) -> torch.Tensor:
    """A file's bytes as a uint8 tensor (read by torchvision, without a copy). Raises BadImage."""
    from torchvision.io import read_file as tv_read_file

    try:
        return tv_read_file(str(path))
    except RuntimeError as exc:
        if not Path(path).is_file():
            raise BadImage("cannot read (no such file)") from None
        if Path(path).stat().st_size == 0:
            raise BadImage("empty file") from None
        raise BadImage(f"cannot read ({_short(exc)})") from None


def decode_file(path: str | Path, size: int, channels: int, resize_to: int = 0) -> torch.Tensor:
    """The image at `path` fitted to size x size (its shorter side first resized to `resize_to` when given).
    Raises BadImage (a missing file included)."""
    return fit(decode_bytes(read_file(path), channels), size, resize_to)


def probe(path: str | Path) -> tuple[int, int, bool]:
    """(height, width, grayscale) from the file's header, without decoding the pixels. Raises BadImage."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            gray = im.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
            return im.height, im.width, gray
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise BadImage(_short(exc)) from None
