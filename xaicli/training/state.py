"""Training state, with one owner: where the run is (epoch, step) and the best validation score so far.

Every checkpoint carries this state; `best` and `best_epoch` are what decide whether an epoch's
checkpoint also becomes best.pt, and a resumed run starts from the values its checkpoint holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TrainState:
    steps_per_epoch: int
    monitor: str = "val_loss"  # the validation metric that decides best.pt ("none": never)
    mode: str = "min"  # min or max
    epoch: int = 0  # epochs completed
    step_in_epoch: int = 0  # steps completed in the current epoch
    best: float | None = None  # best value of `monitor` so far
    best_epoch: int | None = None  # the epoch (1-based) that reached it
    meters: dict | None = None  # inside an epoch: its partial metric sums (DeviceMeters.snapshot)

    @property
    def global_step(self) -> int:
        return self.epoch * self.steps_per_epoch + self.step_in_epoch

    def at_step(self, epoch: int, step_in_epoch: int) -> None:
        """Record a position: `step_in_epoch` steps of epoch `epoch` (0-based) are done."""
        self.epoch, self.step_in_epoch = epoch, step_in_epoch

    def end_epoch(self, epoch: int, metrics: dict) -> bool:
        """Epoch `epoch` (0-based) is done with these validation metrics; True when it is the new best."""
        self.epoch, self.step_in_epoch, self.meters = epoch + 1, 0, None
        value = metrics.get(self.monitor)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.best is not None and not (value > self.best if self.mode == "max" else value < self.best):
            return False
        self.best, self.best_epoch = float(value), epoch + 1
        return True

    def to_checkpoint(self) -> dict:
        return {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
                "best": self.best, "best_epoch": self.best_epoch, "monitor": [self.monitor, self.mode],
                "meters": self.meters if self.step_in_epoch else None}

    def load(self, saved: dict) -> None:
        """Take the position and best score from a checkpoint (checked by the checkpointer first)."""
        self.epoch, self.step_in_epoch = int(saved["epoch"]), int(saved["step_in_epoch"])
        best = saved.get("best")
        self.best = None if best is None else float(best)
        best_epoch = saved.get("best_epoch")
        self.best_epoch = None if best_epoch is None else int(best_epoch)
        self.meters = saved.get("meters") if self.step_in_epoch else None

    def summary(self) -> dict:
        """What meta.json records about the best score."""
        return {"best": self.best, "best_epoch": self.best_epoch, "monitor": self.monitor}
