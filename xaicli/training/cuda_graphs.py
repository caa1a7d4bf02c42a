"""`train.cuda_graphs`: replay the training step from a CUDA graph instead of launching its kernels one by one.

For MNIST-sized models the GPU waits on Python: a step is a few hundred small kernels, each launched
from the host. A CUDA graph records them once and replays them with one launch. How a step is captured:

- The task's step has three parts (xaicli/tasks/base.py): `prepare_step` (host: which variant, EMA
  weights), `step_body` (device work only) and `finish_step` (host: schedules, counters). Only the body
  is captured, once per variant and batch shape; a GAN with n_critic > 1 has two ("d" and "dg").
- The first WARMUP steps of each variant run eager on a side stream. They are real training steps on real
  batches, not throw-away passes, so no weights need restoring afterwards. The next step is captured
  (capture records, it does not run) and then replayed, and every later step copies its batch into the
  graph's static input and replays.
- The optimizers are fused and capturable with the learning rate in a device tensor that the schedule
  fills in place (make_optimizer's graph_safe), and random numbers (noise, dropout) come from the same
  generator stream as eager, so the weights match the eager path up to floating-point reordering.
- A step of another batch shape (the last batch when data.drop_last is false) gets its own graph after
  its own warm-up.

Where capture is not possible (no CUDA, DDP, torch.compile, 16-mixed's gradient scaler, SGD) the run
is eager; `auto` says so in one line on a GPU and stays silent on a CPU, `true` always says so. A capture
that fails at run time also falls back to eager with a one-line notice.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

from xaicli.viz import console

WARMUP = 3  # eager steps per variant before capture (lazy state: optimizer moments, cuDNN plans)


def graph_plan(cfg, device, distributed: bool) -> tuple[bool, str | None]:
    """(capture?, notice): whether this run's steps will be captured, and the line saying why not."""
    mode = cfg.train.cuda_graphs
    if mode == "false":
        return False, None
    reasons = []
    if device.type != "cuda":
        if mode == "auto":
            return False, None  # the expected case on a CPU: nothing to say
        reasons.append(f"the device is {device.type}")
    if distributed:
        reasons.append("DDP steps run eager")
    if cfg.train.compile:
        reasons.append("train.compile is on")
    if cfg.train.precision == "16-mixed":
        reasons.append("16-mixed's gradient scaler reads its overflow check on the host (use bf16-mixed)")
    if cfg.optim.name == "sgd":
        reasons.append("optim.name=sgd has no capturable implementation here (use adam or adamw)")
    if not reasons:
        return True, None
    return False, f"train.cuda_graphs={mode}: running eager, because {'; '.join(reasons)}"


class CudaCapture:
    """The CUDA side: warm-up on a side stream, capture, replay."""

    def __init__(self, device) -> None:
        import torch

        self.torch = torch
        self.stream = torch.cuda.Stream(device=device)

    def warm(self, fn: Callable[[], dict]) -> dict:
        torch = self.torch
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            out = fn()
        torch.cuda.current_stream().wait_stream(self.stream)
        return out

    def capture(self, fn: Callable[[], dict]):
        """(replay, outputs): a callable that replays the recorded step, and the step's static outputs."""
        graph = self.torch.cuda.CUDAGraph()
        with self.torch.cuda.graph(graph):
            out = fn()
        return graph.replay, out


class GraphedStep:
    """Drop-in for `task.train_step`: eager warm-up, then replay of one captured graph per step variant."""

    def __init__(self, task, capture=None, warmup: int = WARMUP) -> None:
        self.task = task
        self.backend = capture if capture is not None else CudaCapture(task.device)
        self.warmup = warmup
        self.warmed: Counter = Counter()
        self.graphs: dict = {}  # (variant, shape) -> (replay, static x, static y, static outputs)
        self.failed = False

    @property
    def captured(self) -> int:
        return len(self.graphs)

    def __call__(self, x, y) -> dict:
        task = self.task
        variant = task.prepare_step()
        key = (variant, tuple(x.shape))
        entry = self.graphs.get(key)
        if entry is None and not self.failed and self.warmed[key] >= self.warmup:
            entry = self._capture(key, x, y, variant)
        if entry is not None:
            replay, static_x, static_y, out = entry
            static_x.copy_(x)
            static_y.copy_(y)
            replay()
        elif self.failed:
            out = task.step_body(x, y, variant)
        else:
            self.warmed[key] += 1
            out = self.backend.warm(lambda: task.step_body(x, y, variant))
        task.finish_step(variant)
        return out

    def _capture(self, key, x, y, variant):
        static_x, static_y = x.clone(), y.clone()  # outside the graph's memory pool, filled before each replay
        params = [p for m in self.task.modules.values() for p in m.parameters()]
        trainable = [p.requires_grad for p in params]
        try:
            replay, out = self.backend.capture(lambda: self.task.step_body(static_x, static_y, variant))
        except Exception as exc:  # capture refused (an op that syncs with the host, an old driver, ...)
            self.failed = True
            for p, flag in zip(params, trainable, strict=True):  # a body stopped half-way may have frozen a network
                p.requires_grad_(flag)
            console.warn(f"train.cuda_graphs: capturing the '{variant}' step failed "
                         f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                         f"running eager from here on")
            return None
        self.graphs[key] = (replay, static_x, static_y, out)
        return self.graphs[key]


def make_step(task, capture: bool) -> Callable:
    """The per-step callable of the training loop: the captured path or the task's eager step."""
    return GraphedStep(task) if capture else task.train_step
