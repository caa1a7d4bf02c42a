"""The training loop, read top to bottom: seed, device, data, task, steps, logging, checkpoints, signals.

What differs between a classifier and a GAN lives in the task (xaicli/tasks); this loop is shared.
Metrics of each step stay on the device and are summed there; the host reads them only every
`train.log_every` steps and at the end of an epoch, so a step never waits for the GPU.
"""

from __future__ import annotations

import signal
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

from xaicli import config as cfgmod
from xaicli.viz import console
from xaicli.errors import ConfigError, Interrupted, XaiError
from xaicli.runs.checkpoint import load_checkpoint, save_checkpoint
from xaicli.runs.files import atomic_write_text, clean_stale_temporaries
from xaicli.runs.layout import check_run_links, create_run_dir

RESUME_MAY_CHANGE = ("train.device", "train.log_every", "train.threads", "train.cuda_graphs")
SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGUSR1: 143}


def resolve_device(name: str):
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device: '{name}' requested but CUDA is not available here; "
                              f"use train.device=cpu or auto")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"train.device: '{name}' but only {torch.cuda.device_count()} GPU(s) exist")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("train.device: 'mps' requested but MPS is not available here")
    return torch.device(name)


class StopFlag:
    """Set by SIGINT/SIGTERM/SIGUSR1; the loop finishes the current step, saves and exits."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
            console.info(f"received {signal.Signals(signum).name}: saving a checkpoint after this step")


@contextmanager
def signal_handlers(flag: StopFlag) -> Iterator[None]:
    """Install our handlers for the duration of training and restore the previous ones after."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNAL_EXIT}
    for s in SIGNAL_EXIT:
        signal.signal(s, flag)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def rng_state(device) -> dict:
    import torch

    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device) -> None:
    import torch

    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def check_resume_config(saved: dict, new: dict, run_dir: Path) -> None:
    changed = [k for k in cfgmod.diff(saved, new) if k not in RESUME_MAY_CHANGE]
    if changed:
        raise ConfigError(f"--resume {run_dir}: the config differs from the run's in {', '.join(changed)}; "
                          f"only {', '.join(RESUME_MAY_CHANGE)} may change on resume")


def prepare_run(cfg, run_dir: str | None, resume: str | None) -> tuple[Path, bool]:
    """The run directory: a new one, an explicit one, or the one being resumed."""
    if resume is not None:
        path = Path(resume)
        if not (path / "config.yaml").is_file():
            raise ConfigError(f"--resume {path}: not a run directory (no config.yaml)")
        saved = cfgmod.to_dict(cfgmod.load(path / "config.yaml"))
        check_resume_config(saved, cfgmod.to_dict(cfg), path)
        check_run_links(path)
        return path, True
    path = create_run_dir(cfg.train.runs_dir, cfg.name, run_dir)
    atomic_write_text(path / "config.yaml", cfgmod.dump(cfg))
    return path, False


def train(cfg, run_dir: str | None = None, resume: str | None = None, dist=None) -> Path:
    """Train `cfg`; return the run directory. `dist` is the DDP context (xaicli.training.distributed)."""
    import torch

    from xaicli.data.loader import BatchStream, fits_on_device
    from xaicli.data.registry import load_dataset
    from xaicli.training.cuda_graphs import graph_plan, make_step
    from xaicli.runs.metrics_log import MetricsWriter, read_epochs
    from xaicli.runs.meta import finish_meta, start_meta
    from xaicli.viz.plots import training_curves
    from xaicli.tasks import build_task

    rank0 = dist is None or dist.rank == 0
    console.set_quiet(not rank0)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = dist.device if dist is not None else resolve_device(cfg.train.device)
    allocator = None
    if device.type == "cpu":
        from xaicli.training.cpu_alloc import tune_allocator

        allocator = tune_allocator()
    torch.manual_seed(cfg.seed)

    data = load_dataset(cfg.data)
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
    steps_per_epoch = len(stream)
    total_steps = steps_per_epoch * cfg.train.epochs
    captured, notice = graph_plan(cfg, device, distributed=dist is not None)
    task = build_task(cfg, data, device, total_steps, graph_safe=captured)
    if dist is not None:
        task.wrap_ddp(dist.wrap)

    path, resuming = (dist.broadcast_run(lambda: prepare_run(cfg, run_dir, resume)) if dist is not None
                      else prepare_run(cfg, run_dir, resume))
    ckpt_dir = path / "checkpoints"
    start_epoch, start_step, best = 0, 0, None
    if resuming:
        clean_stale_temporaries(ckpt_dir)
        state = load_checkpoint(ckpt_dir / "last.pt", map_location=device)
        check_checkpoint_kind(state, cfg, task, ckpt_dir / "last.pt")
        check_resume_config(state.get("config") or {}, cfgmod.to_dict(cfg), path)
        task.load_state_dict(state)
        set_rng_state(state["rng"], device)
        start_epoch, start_step, best = state["epoch"], state["step_in_epoch"], state.get("best")
        if start_epoch >= cfg.train.epochs:
            if rank0:
                console.info(f"{path}: already finished ({start_epoch}/{cfg.train.epochs} epochs); nothing to do")
            return path
    writer = MetricsWriter(path) if rank0 else None
    flag = StopFlag()
    meta = None

    def save(name: str, epoch: int, step_in_epoch: int) -> None:
        if not rank0:
            return
        state = {"format_version": 1, "kind": task.kind, "model_name": cfg.model.name,
                 "config": cfgmod.to_dict(cfg), "epoch": epoch, "step_in_epoch": step_in_epoch,
                 "global_step": epoch * steps_per_epoch + step_in_epoch, "best": best,
                 "monitor": list(task.monitor), "rng": rng_state(device), **task.state_dict()}
        ensure_finite(state, ckpt_dir / name)
        save_checkpoint(ckpt_dir / name, state)

    with console.log_to(path / "log.txt") if rank0 else nullcontext(), signal_handlers(flag):
        if rank0:
            meta = start_meta(path, cfg.seed, device, data.provenance,
                              {"world_size": world, "steps_per_epoch": steps_per_epoch,
                               "step": "cuda_graph" if captured else "eager",
                               **({"cpu_allocator": allocator} if allocator else {})})
            console.info(f"run {path} | {cfg.model.name} on {data.provenance.get('dataset')} "
                         f"({data.provenance.get('source')}, {len(data.x_train)} train / {len(data.x_test)} test) "
                         f"| device {device} | {cfg.train.epochs} epochs x {steps_per_epoch} steps"
                         + (f" | resuming at epoch {start_epoch + 1} step {start_step}" if resuming else ""))
            if notice:
                (console.warn if cfg.train.cuda_graphs == "true" else console.info)(notice)
        exit_code = 1
        try:
            best = _loop(cfg, task, make_step(task, captured), stream, writer, save, flag, start_epoch,
                         start_step, best, dist, path)
            exit_code = 0
        except torch.cuda.OutOfMemoryError:
            bs = cfg.data.batch_size
            raise XaiError(f"out of memory on {device} with data.batch_size={bs}; try a smaller batch, "
                           f"for example data.batch_size={max(1, bs // 2)}") from None
        except XaiError as exc:
            exit_code = exc.exit_code
            raise
        except KeyboardInterrupt:
            exit_code = 130
            raise
        finally:
            if rank0 and meta is not None:
                epochs = read_epochs(path / "metrics.jsonl")
                try:
                    training_curves(epochs, path / "plots" / "training.png")
                except Exception as exc:  # a plot must never hide the real outcome
                    console.warn(f"could not draw the training curves: {exc}")
                finish_meta(path, meta, exit_code, best=best)
    return path


def check_checkpoint_kind(state: dict, cfg, task, path: Path) -> None:
    """Refuse a checkpoint of another run type, model or shape before load_state_dict sees it."""
    from xaicli.tasks.base import unwrap

    kind, name = state.get("kind"), state.get("model_name")
    saved_args = (state.get("config") or {}).get("model", {}).get("args", {})
    held = f"a {kind} '{name}'" + (f" with args {saved_args}" if saved_args else "")
    built = f"a {task.kind} '{cfg.model.name}'" + (f" with args {cfg.model.args}" if cfg.model.args else "")
    if kind != task.kind or name != cfg.model.name:
        raise XaiError(f"{path}: checkpoint holds {held}, but the run builds {built}")
    models = state.get("models")
    if not isinstance(models, dict):
        raise XaiError(f"{path}: checkpoint is corrupt or incomplete (no model weights)")
    for key, module in task.modules.items():
        saved = models.get(key)
        if not isinstance(saved, dict):
            raise XaiError(f"{path}: checkpoint is corrupt or incomplete (no weights for '{key}')")
        own = unwrap(module).state_dict()
        missing, extra = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
        if missing or extra:
            raise XaiError(f"{path}: checkpoint holds {held}, but the run builds {built}: "
                           f"parameters {'missing ' + ', '.join(missing[:3]) if missing else ''}"
                           f"{' unexpected ' + ', '.join(extra[:3]) if extra else ''}")
        for k, t in own.items():
            if getattr(saved[k], "shape", None) != t.shape:
                raise XaiError(f"{path}: checkpoint holds {held}, but the run builds {built}: "
                               f"{key}.{k} has shape {list(getattr(saved[k], 'shape', []))} in the "
                               f"checkpoint and {list(t.shape)} in the model")


def ensure_finite(state: dict, path: Path) -> None:
    import torch

    for group, modules in state["models"].items():
        for key, t in modules.items():
            if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all():
                raise XaiError(f"refusing to save {path}: {group}.{key} holds NaN or Inf; "
                               f"the previous checkpoint is kept")


def _loop(cfg, task, train_step, stream, writer, save, flag, start_epoch, start_step, best, dist, path):

    from xaicli.training.meters import DeviceMeters
    from xaicli.training.progress import Progress

    steps = len(stream)
    monitor, mode = task.monitor
    rank0 = writer is not None
    with Progress(cfg.train.epochs, steps, enabled=rank0) as progress:
        for epoch in range(start_epoch, cfg.train.epochs):
            task.train(True)
            t0 = time.perf_counter()
            first = start_step if epoch == start_epoch else 0
            meters = DeviceMeters(task.device, first)
            images = 0
            progress.start_epoch(epoch, first)
            for step, (xb, yb) in enumerate(stream.epoch(epoch, first), start=first):
                meters.add(train_step(xb, yb))
                images += len(xb)
                global_step = epoch * steps + step + 1
                log_now = global_step % cfg.train.log_every == 0 or step == steps - 1
                if log_now:
                    meters.check_finite(epoch, dist)
                    values = meters.window_means(dist)
                    warning = task.health(values)
                    if warning and rank0:
                        console.warn(warning)
                    if rank0:
                        writer.row("step", epoch=epoch + 1, step=global_step, lr=task.lr(), **values)
                        progress.log_step(step + 1, values, task.lr(), images / (time.perf_counter() - t0))
                progress.advance()
                signum = stop_signal(flag, dist, log_now)
                if signum:
                    save("last.pt", epoch, step + 1)
                    raise Interrupted(f"stopped by {signal.Signals(signum).name} at epoch {epoch + 1} "
                                      f"step {step + 1}; checkpoint saved; continue with "
                                      f"xai train --resume {path}", SIGNAL_EXIT[signum])
            meters.check_finite(epoch, dist)
            train_metrics = {f"train_{k}": v for k, v in meters.epoch_means(dist).items()}
            val = task.validate() if rank0 or dist is None else {}
            seconds = time.perf_counter() - t0
            row = {"epoch": epoch + 1, **train_metrics, **val, "lr": task.lr(), "seconds": round(seconds, 3)}
            improved = monitor in val and (best is None or (val[monitor] > best if mode == "max"
                                                            else val[monitor] < best))
            if improved:
                best = val[monitor]
            if rank0:
                writer.epoch(**row)
                progress.log_epoch(row)
                save("last.pt", epoch + 1, 0)
                if improved:
                    save("best.pt", epoch + 1, 0)
                task.on_epoch_end(epoch, path)
            if dist is not None:
                dist.barrier()
            signum = stop_signal(flag, dist, True)
            if signum and epoch + 1 < cfg.train.epochs:
                raise Interrupted(f"stopped by {signal.Signals(signum).name} after epoch {epoch + 1}; "
                                  f"continue with xai train --resume {path}", SIGNAL_EXIT[signum])
    return best


def stop_signal(flag: StopFlag, dist, sync_point: bool) -> int:
    """The signal to stop for, or 0. Under DDP the ranks agree on it at log steps only, so that
    they all save-and-stop after the same step without a collective call inside every step."""
    if dist is None:
        return flag.signum or 0
    if not sync_point:
        return 0
    return dist.max_int(flag.signum or 0)
