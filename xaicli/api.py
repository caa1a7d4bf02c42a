"""The public Python API: plain functions that take data and return data.

Every function here is also reachable as `xaicli.<name>` (imported lazily, so `import xaicli` and
`xai --help` stay free of torch). Errors are `xaicli.errors.XaiError` (runtime) and its subclass
`ConfigError` (usage or config); the command line turns them into exit codes 1 and 2.
Process-wide changes (torch's thread count, the CPU allocator, signal handlers) are opt-in here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover - names for annotations only
    import torch

    from xaicli.config import Config
    from xaicli.runs.restore import Restored


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """A validated Config from a YAML file (or the defaults) and `section.key=value` overrides."""
    from xaicli import config as cfgmod

    return cfgmod.load(path, list(overrides))


def train(config: Config | str | Path | None = None, overrides: Sequence[str] = (), *,
          run_dir: str | Path | None = None, resume: str | Path | None = None,
          configure_process: bool = False, handle_signals: bool = False) -> Path:
    """Train and return the run directory.

    `config`: a Config, a YAML path, or None with `resume` (the run's own config.yaml is used).
    `configure_process`: apply `train.threads`, the CPU allocator tuning and quiet non-zero DDP ranks.
    `handle_signals`: SIGINT/SIGTERM/SIGUSR1 save a checkpoint and raise `xaicli.errors.Interrupted`.
    Under torchrun (WORLD_SIZE > 1) every process calls this; rank 0 writes the run.
    """
    from xaicli import config as cfgmod
    from xaicli.errors import ConfigError
    from xaicli.training.distributed import maybe_distributed
    from xaicli.training.loop import train as run_training
    from xaicli.training.signals import StopFlag, signal_handlers

    if resume is not None and run_dir is not None:
        raise ConfigError("train: --run-dir and --resume cannot be used together")
    if config is None:
        if resume is None:
            raise ConfigError("train: give a CONFIG file, or --resume RUN_DIR")
        if not (Path(resume) / "config.yaml").is_file():
            raise ConfigError(f"--resume {resume}: not a run directory (no config.yaml)")
        config = cfgmod.load_run(resume, list(overrides))
    elif isinstance(config, (str, Path)):
        config = cfgmod.load(config, list(overrides))
    elif overrides:
        raise ConfigError("train: overrides apply to a config file; change the Config object instead")
    flag = StopFlag()
    with maybe_distributed(config) as dist:
        if configure_process:
            from xaicli.training.process import configure_process as configure

            configure(config, dist)
        with signal_handlers(flag) if handle_signals else _nothing():
            return run_training(config, run_dir=None if run_dir is None else str(run_dir),
                                resume=None if resume is None else str(resume), dist=dist, stop=flag)


def is_rank_zero() -> bool:
    """True outside torchrun and on its rank 0 (the process that writes and prints)."""
    return int(os.environ.get("RANK", "0")) == 0


def restore(run: str | Path, checkpoint: str = "last", device: str | None = None,
            data_source: str | None = None) -> Restored:
    """A trained run rebuilt from its directory: `.cfg`, `.data`, `.task` (its model(s) in eval mode),
    `.checkpoint`, `.state`. `checkpoint`: best, last, or a path."""
    from xaicli.runs.restore import restore as _restore

    return _restore(run, checkpoint, device, data_source=data_source)


def evaluate(run: str | Path, checkpoint: str = "last", split: str | None = None,
             classifier: str | Path | None = None, data_source: str | None = None, out: str | Path | None = None,
             must_write: bool = True) -> dict:
    """The run's metrics (also written to RUN/eval/metrics.json and RUN/eval/history.jsonl, or to `out`, a
    new or empty folder): accuracy, NLL, ECE, per class for a classifier; FID, KID, precision, recall and
    more for a GAN (`classifier`: a classifier run). The data is the run's own unless `data_source` says
    otherwise. `must_write=False`: a read-only run only gets a warning."""
    from xaicli.evaluation.command import run_eval

    return run_eval(str(run), checkpoint, split, None if classifier is None else str(classifier), data_source,
                    None if out is None else str(out), must_write)


def sample(run: str | Path, n: int = 64, seed: int = 0, label: int | None = None, interpolate: bool = False,
           out: str | Path | None = None, checkpoint: str = "last", data_source: str | None = None) -> Path:
    """Images from a GAN run's generator written to a new folder (grid.png, images/, samples.pt); its path."""
    from xaicli.sampling import run_sample

    return Path(run_sample(str(run), n=n, seed=seed, label=label, interpolate=interpolate,
                           out=None if out is None else str(out), checkpoint=checkpoint, data_source=data_source))


def explain(run: str | Path, methods: Sequence[str] | None = None, n: int | None = None, target: str | None = None,
            inputs: str | None = None, split: str | None = None, out: str | Path | None = None,
            checkpoint: str = "last", classifier: str | Path | None = None, layer: str | None = None,
            data_source: str | None = None, images: Sequence[str | Path] | None = None,
            sanity: bool | None = None) -> Path:
    """Explain a run with saliency maps, measured for faithfulness and sanity; the new folder with
    report.html, metrics.json and the maps. `layer`: the Grad-CAM layer by dotted module name.
    `images`: files, folders or globs to explain instead of the run's data (a classifier run)."""
    from xaicli.explain.command import run_explain

    return Path(run_explain(str(run), methods=list(methods) if methods else None, n=n, target=target,
                            inputs=inputs, split=split, out=None if out is None else str(out),
                            checkpoint=checkpoint, classifier=None if classifier is None else str(classifier),
                            layer=layer, data_source=data_source, images=[str(p) for p in images] if images else None,
                            sanity=sanity))


def explain_images(model: str, images: Sequence[str | Path], weights: str | Path | None = None,
                   methods: Sequence[str] | None = None, target: str | None = None, out: str | Path | None = None,
                   layer: str | None = None, allow_download: bool = False, sanity: bool = True,
                   n: int | None = None) -> Path:
    """One-shot: explain image files (files, folders, globs) with a model from elsewhere (`torchvision:NAME`,
    `timm:NAME`, `module.path:callable`) and its `weights` (none, an enum name, a state-dict file), without
    a run; the new folder (`out`, else runs/explain/NNN) with report.html. Every file is explained; the
    first `n` (default explain.n, 8) are also measured and shown in the report."""
    from xaicli.explain.command import log
    from xaicli.explain.oneshot import run_oneshot

    return Path(run_oneshot(model, None if weights is None else str(weights), [str(p) for p in images],
                            list(methods) if methods else None, target, None if out is None else str(out), layer,
                            allow_download, log, sanity, n))


def compare_explanations(before: str | Path, after: str | Path, out: str | Path | None = None) -> Path:
    """Two runs' scorecards side by side (each a run's latest explain folder, or an explain folder):
    the change of every measure from `before` to `after` with a bootstrap interval; the new folder
    with compare.json and compare.html."""
    from xaicli.explain.command import log
    from xaicli.explain.scorecard.compare import compare

    return Path(compare(before, after, None if out is None else str(out), log))


def attribute(model: torch.nn.Module, inputs: torch.Tensor, target: Any = None, method: str = "saliency",
              **params: Any) -> torch.Tensor:
    """Attributions of one batch, shaped like `inputs`, for any method `xai explain` knows
    (`xaicli.registries()["methods"]`, `smoothgrad:<method>`, `captum:<Name>`). Unknown parameters raise."""
    from xaicli.explain.attribute import attribute as _attribute

    return _attribute(model, inputs, target, method=method, **params)


def check_data(path: str | Path, workers: int = 0):
    """Check a folder or CSV image dataset (`xai data check`): a CheckReport with the classes, the counts
    per split and the defects found (`.ok`, `.summary()`, `.lines()`, `.to_dict()`). Every file is decoded
    once, with `workers` threads (0: one per CPU core)."""
    from xaicli.data.check import check_dataset

    return check_dataset(path, workers)


def list_runs(folder: str | Path = "runs", kind: str | None = None, name: str | None = None,
              status: str | None = None) -> list[dict]:
    """Summaries of the runs under `folder` (sweeps' points included), newest first: name, path, kind,
    dataset, model, status (finished, interrupted, failed, running), epochs, best score, evaluation,
    start time, seconds. `name` is a glob; `kind` a task name; `status` one of the four."""
    from xaicli.runs.listing import list_runs as _list_runs

    return _list_runs(folder, kind=kind, name=name, status=status)


def compare_runs(runs: Sequence[str | Path], out: str | Path | None = None, plot: bool = True) -> dict:
    """Runs side by side: {"runs": names, "paths", "config": {key: [value per run]} for the keys that differ,
    "metrics": {row: [value per run]}, "plot": a PNG of their epoch curves (`out`, else compare-NNN.png
    beside the runs) or None}."""
    from xaicli.runs.compare import compare_runs as _compare

    return _compare(list(runs), out=out, plot=plot)


def sweep(config: str | Path, grid: Sequence[str], *, name: str | None = None, gpus: Sequence[str] | None = None,
          max_parallel: int | None = None, slurm: bool = False, dry_run: bool = False,
          retry_failed: bool = False) -> dict:
    """Run one `xai train` per point of the grid (`["optim.lr=1e-3,1e-2", "seed=0:3"]`) under
    runs/<name>/ (default: <config name>-sweep-<id of the config file and grid>), on this machine (a process
    per GPU in `gpus`, or `max_parallel` CPU processes) or as a SLURM job array (`slurm`; `dry_run` writes
    it only). Called again, it runs only what is missing. Returns {"sweep_dir", "points", "summary" (mean and
    std over seeds per grid point), "stopped", "script", "job_id"}."""
    from xaicli.sweeps import run_sweep

    return run_sweep(str(config), list(grid), name=name, gpus=list(gpus) if gpus else None,
                     max_parallel=max_parallel, slurm=slurm, dry_run=dry_run, retry_failed=retry_failed)


def export_run(run: str | Path, to: str, out: str | Path | None = None) -> str:
    """Replay a run directory into TensorBoard (`to="tensorboard"`: RUN/tb/ or `out`) or MLflow (a new MLflow
    run in MLFLOW_TRACKING_URI, else sqlite next to the runs folder); where it went."""
    from xaicli.tracking.export import export_run as _export

    return _export(run, to, out)


def registries() -> dict[str, list[str]]:
    """Every registry by its `xai list` name: models, datasets, methods, tasks."""
    from xaicli.data.registry import DATASETS
    from xaicli.explain.registry import METHODS
    from xaicli.models import MODELS
    from xaicli.tasks import TASKS

    return {"models": MODELS.names(), "datasets": DATASETS.names(), "methods": METHODS.names(),
            "tasks": TASKS.names()}


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
