"""TensorBoard: event files under RUN/tb/, so `tensorboard --logdir runs` sees every run.

Scalars are written as double-precision tensors (`add_scalar(new_style=True, double_precision=True)`),
so what TensorBoard's event reader gives back equals metrics.jsonl exactly, not rounded to float32.
Images are the PNG files the run wrote, embedded as they are (no decoding, no resampling).
The writer queues events and a background thread writes them: a logged row costs the loop a few
microseconds per value.
"""

from __future__ import annotations

import struct
from pathlib import Path

from xaicli.tracking import scalars

FOLDER = "tb"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLORSPACE = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # PNG colour type -> TensorBoard's channel count


def png_size(data: bytes) -> tuple[int, int, int]:
    """(height, width, channels) from a PNG's header."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return height, width, COLORSPACE.get(data[25], 3)


def image_summary(tag: str, data: bytes):
    from tensorboard.compat.proto.summary_pb2 import Summary

    height, width, channels = png_size(data)
    image = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=data)
    return Summary(value=[Summary.Value(tag=tag, image=image)])


class TensorBoardTracker:
    name = "tensorboard"

    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        log_dir.mkdir(parents=True, exist_ok=True)
        self.location = str(log_dir)
        self.writer = SummaryWriter(log_dir=str(log_dir), max_queue=1000, flush_secs=30)

    def on_row(self, record: dict) -> None:
        step, values = scalars(record)
        for tag, value in values:
            self.writer.add_scalar(tag, value, step, new_style=True, double_precision=True)

    def on_image(self, tag: str, png: Path, step: int) -> None:
        self.writer._get_file_writer().add_summary(image_summary(tag, png.read_bytes()), step)

    def close(self, status: str) -> None:
        self.writer.flush()
        self.writer.close()


def has_events(log_dir: Path) -> bool:
    return log_dir.is_dir() and any(log_dir.glob("events.out.tfevents.*"))


def open_tracker(cfg, run_dir: Path, attach: bool = False, log_dir: Path | None = None) -> TensorBoardTracker:
    """A writer into RUN/tb/ (or `log_dir`); each opening adds an event file, which TensorBoard merges."""
    from xaicli.runs.layout import safe_child

    return TensorBoardTracker(log_dir if log_dir is not None else safe_child(run_dir, FOLDER))


def read_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar under `log_dir` as {tag: [(step, value), ...]} in the order written, read back with
    TensorBoard's own event reader (for tests and for checking an export)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    out: dict[str, list[tuple[int, float]]] = {}
    for events in sorted(log_dir.glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"tensors": 0, "scalars": 0, "images": 0})
        acc.Reload()
        for tag in acc.Tags().get("tensors", []):
            for event in acc.Tensors(tag):
                out.setdefault(tag, []).append((event.step, float(tensor_util.make_ndarray(event.tensor_proto))))
    return out


def read_images(log_dir: Path) -> dict[str, list[tuple[int, bytes]]]:
    """Every image under `log_dir` as {tag: [(step, png bytes), ...]}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, bytes]]] = {}
    for events in sorted(log_dir.glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"images": 0})
        acc.Reload()
        for tag in acc.Tags().get("images", []):
            out.setdefault(tag, []).extend((e.step, e.encoded_image_string) for e in acc.Images(tag))
    return out
