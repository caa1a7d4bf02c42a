"""The training loop, read top to bottom: setup -> run directory -> resume -> epochs -> finish.

What differs between a classifier and a GAN lives in the task (xaicli/tasks); this loop is shared.
Where the run is and its best score live in one TrainState; the Checkpointer decides what is written.
Metrics of each step stay on the device and are summed there; the host reads them only every
`train.log_every` steps and at the end of an epoch, so a step never waits for the GPU.
Process-wide settings (threads, allocator, signal handlers, quiet ranks) are the caller's: the
command line applies them (xaicli/training/process.py); a Python caller opts in.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from xaicli import config as cfgmod
from xaicli.data.base import split_counts
from xaicli.errors import ConfigError, Interrupted, XaiError
from xaicli.runs.files import atomic_write_text
from xaicli.runs.latest import point_latest
from xaicli.runs.layout import check_run_links, create_run_dir
from xaicli.tracking import open_trackers
from xaicli.training.checkpointer import Checkpointer, check_resume_config
from xaicli.training.signals import SIGNAL_EXIT, StopFlag, stop_message, stop_signal
from xaicli.training.state import TrainState
from xaicli.viz import console


@dataclass
class Setup:
    """Everything built before the run directory exists: a bad config fails here, leaving no folder."""

    cfg: object
    device: object
    data: object
    stream: object
    task: object
    captured: bool  # steps replayed from CUDA graphs
    notice: str | None  # why they are not, when that deserves a line
    dist: object = None

    @property
    def rank0(self) -> bool:
        return self.dist is None or self.dist.rank == 0


def build_setup(cfg, dist=None) -> Setup:
    import torch

    from xaicli.data.loader import BatchStream, fits_on_device
    from xaicli.data.registry import load_run_data
    from xaicli.tasks import build_task
    from xaicli.training.cuda_graphs import graph_plan
    from xaicli.training.device import resolve_device

    device = dist.device if dist is not None else resolve_device(cfg.train.device)
    torch.manual_seed(cfg.seed)
    data = load_run_data(cfg)
    world = dist.world_size if dist is not None else 1
    if cfg.data.batch_size % world:
        raise ConfigError(f"data.batch_size: {cfg.data.batch_size} must be divisible by the "
                          f"{world} processes (it is the global batch)")
    stream = BatchStream(data.x_train, data.y_train, cfg.data.batch_size, device, shuffle=True,
                         drop_last=cfg.data.drop_last, shift=cfg.data.shift, hflip=cfg.data.hflip, seed=cfg.seed,
                         resident=fits_on_device(data.x_train, device, cfg.data.device_resident),
                         rank=dist.rank if dist else 0, world_size=world)
    if len(stream) == 0:
        raise ConfigError(f"data.batch_size: {cfg.data.batch_size} is larger than the {len(data.x_train)} "
                          f"training images, so an epoch has no full batch; lower it or set data.drop_last=false")
    captured, notice = graph_plan(cfg, device, distributed=dist is not None)
    task = build_task(cfg, data, device, len(stream) * cfg.train.epochs, graph_safe=captured)
    if dist is not None:
        task.wrap_ddp(dist.wrap)
    return Setup(cfg, device, data, stream, task, captured, notice, dist)


def prepare_run(cfg, run_dir: str | None, resume: str | None) -> tuple[Path, bool]:
    """The run directory: a new one, an explicit one, or the one being resumed."""
    if resume is not None:
        path = Path(resume)
        if not (path / "config.yaml").is_file():
            raise ConfigError(f"--resume {path}: not a run directory (no config.yaml)")
        saved = cfgmod.to_dict(cfgmod.load_run(path))
        check_resume_config(saved, cfgmod.to_dict(cfg), path)
        check_run_links(path)
        return path, True
    path = create_run_dir(cfg.train.runs_dir, cfg.name, run_dir)
    atomic_write_text(path / "config.yaml", cfgmod.dump(cfg))
    return path, False


def train(cfg, run_dir: str | None = None, resume: str | None = None, dist=None,
          stop: StopFlag | None = None) -> Path:
    """Train `cfg` (a Config); return the run directory. `dist` is the DDP context
    (xaicli.training.distributed); `stop` a StopFlag that signal handlers (or the caller) may set."""
    from xaicli.runs.metrics_log import MetricsWriter
    from xaicli.training.preflight import check_training_request

    check_training_request(cfg, run_dir, resume)
    started = time.perf_counter()
    s = build_setup(cfg, dist)
    path, resuming = (dist.broadcast_run(lambda: prepare_run(cfg, run_dir, resume)) if dist is not None
                      else prepare_run(cfg, run_dir, resume))
    state = TrainState(len(s.stream), *s.task.monitor)
    checkpoints = Checkpointer(path / "checkpoints", cfg, s.task, s.device, write=s.rank0)
    extended = None
    if resuming:
        extended = checkpoints.resume(state, path)
        if extended and s.rank0:
            atomic_write_text(path / "config.yaml", cfgmod.dump(cfg))
        if state.epoch >= cfg.train.epochs:
            if s.rank0:
                console.info(f"{path}: already finished ({state.epoch}/{cfg.train.epochs} epochs); nothing to do")
                record_lost_ending(path, state)
            return path
    writer = MetricsWriter(path) if s.rank0 else None
    if s.rank0 and not resuming:
        point_latest(cfg.train.runs_dir, path)
    with console.log_to(path / "log.txt") if s.rank0 else nullcontext():
        meta = start(s, path, state, resuming, extended) if s.rank0 else None
        if writer is not None and cfg.train.loggers:
            writer.listeners.append(open_trackers(cfg, path))
        exit_code = 1
        try:
            run_epochs(s, state, checkpoints, writer, stop or StopFlag(), path)
            exit_code = 0
        except XaiError as exc:
            exit_code = exc.exit_code
            raise
        except KeyboardInterrupt:
            exit_code = 130
            raise
        except Exception as exc:
            if is_out_of_memory(exc):
                bs = cfg.data.batch_size
                raise XaiError(f"out of memory on {s.device} with data.batch_size={bs}; try a smaller batch, "
                               f"for example data.batch_size={max(1, bs // 2)}") from None
            raise
        finally:
            if writer is not None:
                writer.close(exit_code)
            if meta is not None:
                finish(path, meta, exit_code, state)
                if exit_code == 0:
                    console.info(summary(s, path, state, time.perf_counter() - started))
    return path


def record_lost_ending(path: Path, state: TrainState) -> None:
    """A run killed after its last checkpoint, before meta.json recorded the end: record it now (else it
    would look interrupted forever, and a sweep would resume it again and again)."""
    import json

    meta = json.loads((path / "meta.json").read_text()) if (path / "meta.json").is_file() else None
    if meta is not None and meta.get("exit_code") is None:
        finish(path, meta, 0, state)


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError)


def start(s: Setup, path: Path, state: TrainState, resuming: bool, extended: dict | None = None) -> dict:
    """meta.json's first version and the opening line of the log."""
    from xaicli.runs.meta import start_meta
    from xaicli.training.cpu_alloc import applied

    cfg, data = s.cfg, s.data
    world = s.dist.world_size if s.dist is not None else 1
    meta = start_meta(path, cfg.seed, s.device, {**data.provenance, "classes": list(data.class_names)},
                      {"kind": s.task.kind, "model": cfg.model.name, "epochs": cfg.train.epochs,
                       "world_size": world, "steps_per_epoch": state.steps_per_epoch,
                       "step": "cuda_graph" if s.captured else "eager",
                       **({"extended": extended} if extended else {}),
                       **({"cpu_allocator": applied()} if applied() else {})})
    console.info(f"run {path} | {cfg.model.name} on {data.provenance.get('dataset')} "
                 f"({data.provenance.get('source')}, {split_counts(data)}) "
                 f"| device {s.device} | {cfg.train.epochs} epochs x {state.steps_per_epoch} steps"
                 + (f" | resuming at epoch {state.epoch + 1} step {state.step_in_epoch}" if resuming else ""))
    if extended:
        console.info(f"extending from {extended['from']} to {extended['to']} epochs: a fresh {cfg.optim.schedule} "
                     f"schedule over the added epochs (a warm restart), weights and optimizer state carried on")
    if s.notice:
        (console.warn if cfg.train.cuda_graphs == "true" else console.info)(s.notice)
    return meta


def finish(path: Path, meta: dict, exit_code: int, state: TrainState) -> None:
    """The training curves and meta.json's outcome, whatever happened."""
    from xaicli.runs.meta import finish_meta
    from xaicli.runs.metrics_log import read_epochs
    from xaicli.viz.plots import training_curves

    try:
        training_curves(read_epochs(path / "metrics.jsonl"), path / "plots" / "training.png", title=path.name)
    except Exception as exc:  # a plot must never hide the real outcome
        console.warn(f"could not draw the training curves: {exc}")
    finish_meta(path, meta, exit_code, **state.summary())


def summary(s: Setup, path: Path, state: TrainState, seconds: float) -> str:
    """What happened, in a few lines for the console: the best score and where, the time, what to run next."""
    from xaicli.runs.metrics_log import read_epochs

    lines = [f"done: {state.epoch} epochs in {console.duration(seconds)}"]
    if state.best is not None:
        lines[0] += (f"; best {state.monitor} {state.best:.4f} at epoch {state.best_epoch} "
                     f"({path / 'checkpoints' / 'best.pt'})")
    last = (read_epochs(path / "metrics.jsonl") or [{}])[-1]
    shown = {k: v for k, v in last.items() if isinstance(v, float) and k not in ("lr", "seconds")}
    if shown:
        lines.append("last epoch: " + "  ".join(f"{k} {v:.4g}" for k, v in shown.items()))
    lines.append("next: " + "   ".join(s.task.next_commands(path)))
    return "\n".join(lines)


def run_epochs(s: Setup, state: TrainState, checkpoints: Checkpointer, writer, stop: StopFlag, path: Path) -> None:
    from xaicli.training.cuda_graphs import make_step
    from xaicli.training.progress import Progress

    cfg, dist = s.cfg, s.dist
    step_fn = make_step(s.task, s.captured)
    with Progress(cfg.train.epochs, state.steps_per_epoch, enabled=s.rank0) as progress:
        for epoch in range(state.epoch, cfg.train.epochs):
            run_epoch(s, state, epoch, step_fn, checkpoints, writer, stop, progress, path)
            if dist is not None:
                dist.barrier()
            signum = stop_signal(stop, dist, True)
            if signum and epoch + 1 < cfg.train.epochs:
                raise Interrupted(f"stopped by {stop_message(signum)} after epoch {epoch + 1}; "
                                  f"continue with xai train --resume {path}", SIGNAL_EXIT[signum])


def run_epoch(s: Setup, state: TrainState, epoch: int, step_fn, checkpoints: Checkpointer, writer,
              stop: StopFlag, progress, path: Path) -> None:
    """One epoch from `state.step_in_epoch`: steps, logging, validation, checkpoints."""
    from xaicli.training.meters import DeviceMeters

    cfg, task, dist = s.cfg, s.task, s.dist
    steps = state.steps_per_epoch
    task.train(True)
    t0 = time.perf_counter()
    first = state.step_in_epoch if epoch == state.epoch else 0
    meters = DeviceMeters(task.device, first)
    images = 0
    progress.start_epoch(epoch, first)
    for step, (xb, yb) in enumerate(s.stream.epoch(epoch, first), start=first):
        meters.add(step_fn(xb, yb))
        images += len(xb)
        state.at_step(epoch, step + 1)
        log_now = state.global_step % cfg.train.log_every == 0 or step == steps - 1
        if log_now:
            meters.check_finite(epoch, dist)
            values = meters.window_means(dist)
            warning = task.health(values)
            if writer is not None:
                if warning:
                    console.warn(warning)
                writer.row("step", epoch=epoch + 1, step=state.global_step, lr=task.lr(), **values)
                progress.log_step(step + 1, values, task.lr(), images / (time.perf_counter() - t0))
        progress.advance()
        signum = stop_signal(stop, dist, log_now)
        if signum:
            checkpoints.save("last.pt", state)
            raise Interrupted(f"stopped by {stop_message(signum)} at epoch {epoch + 1} step {step + 1}; "
                              f"checkpoint saved; continue with xai train --resume {path}", SIGNAL_EXIT[signum])
    meters.check_finite(epoch, dist)
    train_metrics = {f"train_{k}": v for k, v in meters.epoch_means(dist).items()}
    val = task.validate() if s.rank0 or dist is None else {}
    row = {"epoch": epoch + 1, **train_metrics, **val, "lr": task.lr(),
           "seconds": round(time.perf_counter() - t0, 3)}
    improved = state.end_epoch(epoch, val)
    if writer is not None:
        writer.epoch(**row)
        progress.log_epoch(row)
        checkpoints.end_of_epoch(state, improved)
        task.on_epoch_end(epoch, path)
        writer.epoch_done(epoch + 1)
