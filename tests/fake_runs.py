"""Run directories as `xai train` leaves them (config.yaml, meta.json, metrics.jsonl and .csv, a checkpoint
file, eval/metrics.json), written without training: for tests and benchmarks of `xai runs` and sweeps."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

EXIT_CODES = {"finished": 0, "interrupted": 143, "failed": 1, "running": None, "killed": None}


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


def make_run(folder: Path, *, name: str = "run", model: str = "fast_cnn", dataset: str = "synthetic",
             kind: str = "classifier", status: str = "finished", epochs: int = 3, planned: int = 3,
             start: float | None = None, seconds: float = 60.0, overrides: tuple = (), pid: int | None = None,
             host: str | None = None, evaluation: dict | None = None, val: list[float] | None = None,
             checkpoint: bool = True) -> Path:
    """One fake run in `folder` (created). `status`: finished, interrupted, failed, running (give `pid`,
    default this process) or killed (no exit code, a pid that is gone)."""
    from xaicli import config as cfgmod
    from xaicli.runs.metrics_log import MetricsWriter

    folder.mkdir(parents=True)
    cfg = cfgmod.load(None, [f"name={name}", f"model.name={model}", f"data.name={dataset}",
                             f"train.epochs={planned}", *overrides])
    (folder / "config.yaml").write_text(cfgmod.dump(cfg))
    start = time.time() - 3600 if start is None else start
    val = val or [0.5 + 0.1 * e for e in range(epochs)]
    writer = MetricsWriter(folder)
    for epoch in range(1, epochs + 1):
        writer.row("step", epoch=epoch, step=epoch * 10, lr=0.001, loss=1.0 / epoch)
        writer.epoch(epoch=epoch, train_loss=1.0 / epoch, val_loss=1.2 / epoch, val_acc=val[epoch - 1],
                     lr=0.001, seconds=1.5)
    best = max(val[:epochs]) if epochs else None
    meta = {"command": ["xai", "train"], "kind": kind, "model": model, "epochs": planned, "data": {"dataset": dataset},
            "seed": cfg.seed, "start_time": iso(start), "end_time": None, "exit_code": EXIT_CODES[status],
            "pid": pid, "host": host or socket.gethostname()}
    if status == "running" and pid is None:
        import os

        meta["pid"] = os.getpid()
    if status in ("finished", "interrupted", "failed"):
        meta.update(end_time=iso(start + seconds), best=best, best_epoch=val.index(best) + 1 if best else None,
                    monitor="val_acc")
    if status == "killed" and pid is None:
        meta["pid"] = 2 ** 22 + 7  # above the default pid_max: no such process
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "log.txt").write_text("fake run\n")
    if checkpoint:
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / "last.pt").write_bytes(b"not a real checkpoint")
    if evaluation is not None:
        (folder / "eval").mkdir()
        (folder / "eval" / "metrics.json").write_text(json.dumps({"epoch": epochs, "split": "test", **evaluation}))
    return folder


def make_many(root: Path, n: int) -> list[Path]:
    """`n` runs of both kinds and every status, started a minute apart."""
    statuses = ("finished", "interrupted", "failed", "finished", "killed")
    out = []
    for i in range(n):
        gan = i % 3 == 2
        out.append(make_run(root / f"{'gan' if gan else 'cnn'}-{i:03d}", name="gan" if gan else "cnn",
                            model="mlp_gan" if gan else "fast_cnn", kind="gan" if gan else "classifier",
                            status=statuses[i % len(statuses)], start=time.time() - 86400 + 60 * i,
                            evaluation={"fid": 20.0 + i} if gan else {"accuracy": 0.9 + i / 10000}))
    return out
