"""Where a layer's output holds its spatial map, and that map as (N, C, H, W).

Convolutional layers give channels first, (N, C, H, W). Vision transformers give tokens,
(N, P + H*W, C): P leading tokens (a class token, DeiT's distillation token, registers) and then one
token per patch, rows first. Swin gives channels last, (N, H, W, C). The layout is read from the shape
and the input's height and width: the map's rows and columns must shrink the input by about the same
factor in both directions (a patch or stride), which tells H and W from C and, for tokens, how many
leading tokens to drop. Channels first is assumed whenever it fits, so convolutional maps keep their
meaning; a 4-D output is read as channels last only when that fits and channels first does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MAX_PREFIX = 8  # leading tokens a transformer may put before its patches (class, distillation, registers)
STRIDE_SPREAD = 1.5  # the largest ratio between the row and column shrink factors of one map


@dataclass(frozen=True)
class Grid:
    """A layer output's spatial layout: kind ("nchw", "nhwc" or "tokens"), the map's height and width
    and, for tokens, the number of leading tokens dropped."""

    kind: str
    height: int
    width: int
    prefix: int = 0

    def to_nchw(self, t: torch.Tensor) -> torch.Tensor:
        """The output as (N, C, H, W): channels moved first, leading tokens dropped."""
        if self.kind == "nhwc":
            return t.permute(0, 3, 1, 2)
        if self.kind == "tokens":
            patches = t[:, self.prefix:, :]
            return patches.transpose(1, 2).reshape(len(t), t.shape[2], self.height, self.width)
        return t

    def describe(self) -> str:
        if self.kind == "tokens":
            dropped = f", {self.prefix} leading token{'s' * (self.prefix != 1)} dropped" if self.prefix else ""
            return f"tokens on a {self.height} x {self.width} grid{dropped}"
        if self.kind == "nhwc":
            return f"channels last, {self.height} x {self.width}"
        return f"{self.height} x {self.width}"


def fits(height: int, width: int, image: tuple[int, int]) -> bool:
    """Could an (height, width) map come from an image of this size: more than one position, not larger
    than the image, and about the same shrink factor along both sides?"""
    if height < 1 or width < 1 or height * width < 2 or height > image[0] or width > image[1]:
        return False
    rows, cols = image[0] / height, image[1] / width
    return max(rows, cols) / min(rows, cols) <= STRIDE_SPREAD


def token_grid(tokens: int, image: tuple[int, int]) -> Grid | None:
    """The fewest leading tokens and the (H, W) with H * W = the rest that fit the image best."""
    for prefix in range(min(MAX_PREFIX, tokens - 2) + 1):
        n = tokens - prefix
        shapes = [(h, n // h) for h in range(1, n + 1) if n % h == 0 and fits(h, n // h, image)]
        if shapes:
            h, w = min(shapes, key=lambda s: abs(image[0] / s[0] - image[1] / s[1]))
            return Grid("tokens", h, w, prefix)
    return None


def grid_of(shape: tuple, image: tuple[int, int]) -> Grid | None:
    """The layout of a layer output of this shape for an input image of this (H, W), or None when it
    holds no spatial map (a vector, one position)."""
    if len(shape) == 4:
        if shape[2] * shape[3] > 1 and (fits(shape[2], shape[3], image) or not fits(shape[1], shape[2], image)):
            return Grid("nchw", shape[2], shape[3])
        if fits(shape[1], shape[2], image):
            return Grid("nhwc", shape[1], shape[2])
        return None
    if len(shape) == 3:
        return token_grid(shape[1], image)
    return None
