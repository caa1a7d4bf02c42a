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
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path

from xaicli import config as cfgmod
from xaicli.data.base import split_counts
from xaicli.errors import ConfigError, XaiError
from xaicli.runs.files import atomic_write_text, create_exclusive
from xaicli.runs.latest import point_latest
from xaicli.runs.layout import check_empty_for_run, check_run_links, create_run_dir, safe_child
from xaicli.tracking import open_trackers
from xaicli.training.checkpointer import Checkpointer, check_resume_config
from xaicli.training.signals import FAILED, StopFlag, side_write, stop_error, stop_signal, write_failure
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


def build_setup(cfg, dist=None, resuming: bool = False) -> Setup:
    """Data, stream and task; a resume builds the model without external weights (its checkpoint has them)."""
    import torch

    from xaicli.data.loader import make_train_stream
    from xaicli.data.registry import load_run_data
    from xaicli.models.external.for_task import without_weights
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
    stream = make_train_stream(data, cfg.data, device, cfg.seed, rank=dist.rank if dist else 0, world_size=world)
    if len(stream) == 0 and cfg.train.epochs:
        raise ConfigError(f"data.batch_size: {cfg.data.batch_size} is larger than the {len(data.x_train)} "
                          f"training images, so an epoch has no full batch; lower it or set data.drop_last=false")
    captured, notice = graph_plan(cfg, device, distributed=dist is not None)
    built = without_weights(cfg) if resuming else cfg
    task = build_task(built, data, device, len(stream) * cfg.train.epochs, graph_safe=captured)
    if dist is not None:
        task.wrap_ddp(dist.wrap)
    return Setup(cfg, device, data, stream, task, captured, notice, dist)


def prepare_run(cfg, run_dir: str | None, resume: str | None, held: ExitStack) -> tuple[Path, bool]:
    """The run directory: a new one, an explicit one, or the one being resumed; its lock is taken
    (and put in `held`) before anything in it is read or written."""
    from xaicli.runs.lock import lock_run

    if resume is not None:
        path = Path(resume)
        if not (path / "config.yaml").is_file():
            raise ConfigError(f"--resume {path}: not a run directory (no config.yaml)")
        held.enter_context(lock_run(path))
        saved = cfgmod.to_dict(cfgmod.load_run(path))
        check_resume_config(saved, cfgmod.to_dict(cfg), path)
        check_run_links(path)
        return path, True
    path = create_run_dir(cfg.train.runs_dir, cfg.name, run_dir)
    held.enter_context(lock_run(path))
    if run_dir is not None:
        check_empty_for_run(path)  # again, now that no other writer can be between check and create
    try:
        create_exclusive(safe_child(path, "config.yaml"), cfgmod.dump(cfg))
    except FileExistsError:
        raise ConfigError(f"--run-dir {path}: already holds a run; choose a new folder "
                          f"or continue it with --resume {path}") from None
    return path, False


def train(cfg, run_dir: str | None = None, resume: str | None = None, dist=None,
          stop: StopFlag | None = None) -> Path:
    """Train `cfg` (a Config); return the run directory. `dist` is the DDP context
    (xaicli.training.distributed); `stop` a StopFlag that signal handlers (or the caller) may set.
    The run's lock (xaicli/runs/lock.py) is held by rank 0 from the run's creation to the end."""
    with ExitStack() as held:
        return train_holding(cfg, run_dir, resume, dist, stop, held)


def train_holding(cfg, run_dir: str | None, resume: str | None, dist, stop: StopFlag | None,
                  held: ExitStack) -> Path:
    from xaicli.runs.metrics_log import MetricsWriter
    from xaicli.training.preflight import check_training_request

    check_training_request(cfg, run_dir, resume)
    started = time.perf_counter()
    s = build_setup(cfg, dist, resuming=resume is not None)
    path, resuming = (dist.broadcast_run(lambda: prepare_run(cfg, run_dir, resume, held)) if dist is not None
                      else prepare_run(cfg, run_dir, resume, held))
    state = TrainState(len(s.stream), *s.task.monitor)
    checkpoints = Checkpointer(path / "checkpoints", cfg, s.task, s.device, write=s.rank0)
    extended = None
    if resuming:
        extended = checkpoints.resume(state, path)
        if state.epoch >= cfg.train.epochs:
            if s.rank0:
                console.info(f"{path}: already finished ({state.epoch}/{cfg.train.epochs} epochs); nothing to do")
                close_finished(path, state)
            return path
    writer = MetricsWriter(path) if s.rank0 else None
    if s.rank0 and not resuming:
        point_latest(cfg.train.runs_dir, path)
    with console.log_to(path / "log.txt") if s.rank0 else nullcontext():
        meta = start(s, path, state, resuming, extended) if s.rank0 else None
        if writer is not None and cfg.train.loggers:
            writer.listeners.append(open_trackers(cfg, path))
        exit_code, error, late = 1, None, None
        try:
            run_epochs(s, state, checkpoints, writer, stop or StopFlag(), path, extended is not None)
            exit_code = 0
        except XaiError as exc:
            exit_code, error = exc.exit_code, str(exc)
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
                late = finish(path, meta, exit_code, state, error)
                if exit_code == 0 and not late:
                    console.info(summary(s, path, state, time.perf_counter() - started))
    if late:  # the training ended well, but a file written at its end could not be
        raise XaiError(f"{late}; the training itself finished and its checkpoints are saved")
    return path


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError)


def start(s: Setup, path: Path, state: TrainState, resuming: bool, extended: dict | None = None) -> dict:
    """meta.json's first version and the opening line of the log."""
    from xaicli.runs.classes import record_classes
    from xaicli.runs.meta import start_meta
    from xaicli.training.cpu_alloc import applied

    cfg, data = s.cfg, s.data
    record_classes(path, data.class_names)
    world = s.dist.world_size if s.dist is not None else 1
    try:
        meta = start_meta(path, cfg.seed, s.device, {**data.provenance, "classes": list(data.class_names)},
                          {"kind": s.task.kind, "model": cfg.model.name, "epochs": cfg.train.epochs,
                           "world_size": world, "steps_per_epoch": state.steps_per_epoch,
                           "step": "cuda_graph" if s.captured else "eager",
                           **({"extended": extended} if extended else {}),
                           **s.task.model_provenance(),
                           **({"cpu_allocator": applied()} if applied() else {})})
    except OSError as exc:
        raise XaiError(f"{write_failure(exc)}; nothing was trained") from None
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


def finish(path: Path, meta: dict, exit_code: int, state: TrainState, error: str | None = None) -> str | None:
    """The training curves and meta.json's outcome (exit code and first error), whatever happened.
    Never raises: a failed write here is returned (when the run had no error of its own) or warned about."""
    from xaicli.runs.meta import finish_meta
    from xaicli.runs.metrics_log import read_epochs
    from xaicli.viz.plots import training_curves

    problems = []
    try:
        training_curves(read_epochs(path / "metrics.jsonl"), safe_child(path, "plots/training.png"), title=path.name)
    except OSError as exc:
        problems.append(write_failure(exc))
    except Exception as exc:  # a plot must never hide the real outcome
        console.warn(f"could not draw the training curves: {exc}")
    first = error or (problems[0] if problems else None)
    if first:
        console.to_log_only(f"error: {first}")
    try:
        finish_meta(path, meta, exit_code or (1 if first else 0), error=first, **state.summary())
    except OSError as exc:
        problems.append(write_failure(exc))
    for problem in problems if error else problems[1:]:
        console.warn(problem)
    return problems[0] if problems and not error else None


def close_finished(path: Path, state: TrainState) -> None:
    """A run killed after its last checkpoint but before its end was recorded: draw its curves and
    record the end in meta.json now, so that it reads as the finished run it is."""
    import json

    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError):
        meta = {}
    if meta.get("exit_code") != 0 or not (path / "plots" / "training.png").is_file():
        late = finish(path, meta, 0, state)
        if late:
            raise XaiError(late)


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


def run_epochs(s: Setup, state: TrainState, checkpoints: Checkpointer, writer, stop: StopFlag, path: Path,
               extending: bool = False) -> None:
    from xaicli.training.cuda_graphs import make_step
    from xaicli.training.progress import Progress

    cfg, dist = s.cfg, s.dist
    if cfg.train.epochs == 0:  # a run without training: the model as built (external weights), saved once
        checkpoints.save("best.pt", state)
        checkpoints.save("last.pt", state)
        return
    step_fn = make_step(s.task, s.captured)
    with Progress(cfg.train.epochs, state.steps_per_epoch, enabled=s.rank0) as progress:
        for epoch in range(state.epoch, cfg.train.epochs):
            run_epoch(s, state, epoch, step_fn, checkpoints, writer, stop, progress, path)
            if extending and s.rank0:  # the checkpoint now holds the longer config: the file follows it
                atomic_write_text(path / "config.yaml", cfgmod.dump(cfg))
                extending = False
            if dist is not None:
                dist.barrier()
            signum = stop_signal(stop, dist, True)
            if signum == FAILED or signum and epoch + 1 < cfg.train.epochs:
                raise stop_error(stop, signum, f"after epoch {epoch + 1}", path, saved=signum == FAILED)


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
    if first and state.meters is not None and s.rank0:  # the sums of the steps before the resume
        meters.restore(state.meters)
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
                side_write(stop, writer.row, "step", epoch=epoch + 1, step=state.global_step, lr=task.lr(), **values)
                progress.log_step(step + 1, values, task.lr(), images / (time.perf_counter() - t0))
        progress.advance()
        signum = stop_signal(stop, dist, log_now)
        if signum:
            meters.check_finite(epoch, dist)
            state.meters = meters.snapshot(dist)
            checkpoints.save("last.pt", state)
            raise stop_error(stop, signum, f"at epoch {epoch + 1} step {step + 1}", path)
    meters.check_finite(epoch, dist)
    train_metrics = {f"train_{k}": v for k, v in meters.epoch_means(dist).items()}
    val = task.validate() if s.rank0 or dist is None else {}
    row = {"epoch": epoch + 1, **train_metrics, **val, "lr": task.lr(),
           "seconds": round(time.perf_counter() - t0, 3)}
    improved = state.end_epoch(epoch, val)
    if writer is not None:  # the epoch's files first: a run killed before its checkpoint writes them again
        side_write(stop, writer.epoch, **row)
        side_write(stop, progress.log_epoch, row)
        side_write(stop, task.on_epoch_end, epoch, path)
        checkpoints.end_of_epoch(state, improved)
        side_write(stop, writer.epoch_done, epoch + 1)
