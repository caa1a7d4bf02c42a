"""The method's own cost on the batch: seconds and images per second (device work included)."""

from __future__ import annotations

from xaicli.explain.measures.base import Column, Context, measure


@measure("timing", Column("seconds", "seconds", "lower"), Column("images_per_s", "images/s", "higher"), always=True)
def timing(ctx: Context) -> dict:
    return {"seconds": round(ctx.seconds, 4), "images_per_s": round(len(ctx.inputs) / max(ctx.seconds, 1e-9), 2)}
