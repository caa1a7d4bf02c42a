"""The `xai` command line: thin commands that parse flags, call one function and print a summary.

Torch is imported inside the commands only, so `xai --help` and `xai config` answer quickly.
Exit codes: 0 ok, 1 runtime failure, 2 usage or config error, 130 / 143 interrupted after saving.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Callable, List, NoReturn

import typer

from xaicli.errors import ConfigError, XaiError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Train, evaluate, sample and explain PyTorch image models.",
                  context_settings={"help_option_names": ["-h", "--help"]})
_opts = {"debug": False}


def _fail(message: str, code: int) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def guarded(command: Callable[..., None]) -> Callable[..., None]:
    """The one place where errors become exit codes: our errors are one line on stderr with their code
    (XaiError 1, ConfigError 2, Interrupted 130/143), anything else is exit 1 with a hint to --debug."""

    @functools.wraps(command)
    def run(*args, **kwargs) -> None:
        try:
            command(*args, **kwargs)
        except typer.Exit:
            raise
        except XaiError as exc:
            if _opts["debug"]:
                raise
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:  # an unexpected failure: one line, and the hint to see more
            if _opts["debug"]:
                raise
            _fail(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)", 1)

    return run


def _print_version(value: bool) -> None:
    if value:
        from xaicli.version import __version__

        print(f"xai {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
          version: bool = typer.Option(False, "--version", help="Print the version and exit.",
                                       callback=_print_version, is_eager=True)) -> None:
    _opts["debug"] = debug


def _split_config_args(config: str | None, overrides: List[str] | None) -> tuple[str | None, list[str]]:
    """With --resume the config may be left out, so a first argument KEY=VALUE is an override."""
    overrides = list(overrides or [])
    if config is not None and "=" in config and not Path(config).exists():
        return None, [config, *overrides]
    return config, overrides


@app.command()
@guarded
def train(
    config: str | None = typer.Argument(None, help="YAML config (optional with --resume)."),
    overrides: List[str] | None = typer.Argument(None, help="Overrides: section.key=value ..."),
    run_dir: str | None = typer.Option(None, "--run-dir", help="Write the run here (must hold no run)."),
    resume: str | None = typer.Option(None, "--resume", help="Continue this run directory."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config and exit."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Build data and model, print a summary, train nothing."),
) -> None:
    """Train a model; print the run directory as the last line."""
    from xaicli import api
    from xaicli import config as cfgmod

    path, extra = _split_config_args(config, overrides)
    if path is None and resume is None:
        raise ConfigError("train: give a CONFIG file, or --resume RUN_DIR")
    if resume is not None and run_dir is not None:
        raise ConfigError("train: --run-dir and --resume cannot be used together")
    if path is None and not (Path(resume) / "config.yaml").is_file():
        raise ConfigError(f"--resume {resume}: not a run directory (no config.yaml)")
    cfg = cfgmod.load(path, extra) if path is not None else cfgmod.load_run(resume, extra)
    if print_config:
        print(cfgmod.dump(cfg), end="")
        return
    if dry_run:
        from xaicli.training.dry_run import dry_run_summary

        print(dry_run_summary(cfg))
        return
    out = api.train(cfg, run_dir=run_dir, resume=resume, configure_process=True, handle_signals=True)
    if api.is_rank_zero():
        print(out)


@app.command("eval")
@guarded
def eval_cmd(
    run: str = typer.Argument(..., help="Run directory (or a checkpoint inside one)."),
    checkpoint: str = typer.Option("last", "--checkpoint", help="best, last, or a checkpoint path."),
    split: str | None = typer.Option(None, "--split", help="train, val or test (default: eval.split, test)."),
    classifier: str | None = typer.Option(None, "--classifier",
                                             help="GAN runs: classifier run that scores the samples."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON on standard output."),
) -> None:
    """Evaluate a run; write RUN/eval/metrics.json."""
    from xaicli import api

    if split is not None and split not in ("train", "val", "test"):
        raise ConfigError(f"--split: expected train, val or test, found {split!r}")
    metrics = api.evaluate(run, checkpoint, split, classifier)
    if as_json:
        print(json.dumps(metrics, indent=2))
    else:
        from rich.console import Console

        Console().print(metrics_table(metrics))


def metrics_table(metrics: dict):
    """Scalars in one table; per-class accuracy as its own rows."""
    from rich.table import Table

    table = Table(title=f"{metrics.get('model')} - {metrics.get('run')}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, bool) or key in ("run", "model", "checkpoint"):
            continue
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif isinstance(value, (int, str)) and key not in ("confusion_matrix_png",):
            table.add_row(key, str(value))
    for name, acc in (metrics.get("per_class_accuracy") or {}).items():
        table.add_row(f"accuracy[{name}]", f"{acc:.4f}")
    return table


@app.command()
@guarded
def sample(
    run: str = typer.Argument(..., help="GAN run directory."),
    n: int = typer.Option(64, "-n", help="Number of images.", min=1),
    seed: int = typer.Option(0, "--seed", help="Noise seed: the same seed gives the same images."),
    label: int | None = typer.Option(None, "--label", help="Class to generate (conditional models)."),
    interpolate: bool = typer.Option(False, "--interpolate", help="A strip between two latent points."),
    out: str | None = typer.Option(None, "--out", help="Output folder (default RUN/samples/NNN)."),
    checkpoint: str = typer.Option("last", "--checkpoint", help="best, last, or a checkpoint path."),
) -> None:
    """Generate images from a GAN run."""
    from xaicli import api

    print(api.sample(run, n=n, seed=seed, label=label, interpolate=interpolate, out=out, checkpoint=checkpoint))


@app.command()
@guarded
def explain(
    run: str = typer.Argument(..., help="Run directory."),
    method: List[str] | None = typer.Option(None, "--method", help="Attribution method (repeatable)."),
    n: int | None = typer.Option(None, "-n", help="Images to explain.", min=1),
    target: str | None = typer.Option(None, "--target", help="pred, label, or a class index."),
    inputs: str | None = typer.Option(None, "--inputs", help="real or generated (GAN runs)."),
    split: str | None = typer.Option(None, "--split", help="train, val or test (default: explain.split, test)."),
    out: str | None = typer.Option(None, "--out", help="Output folder (default RUN/explain/NNN)."),
    checkpoint: str = typer.Option("last", "--checkpoint", help="best, last, or a checkpoint path."),
    classifier: str | None = typer.Option(None, "--classifier",
                                             help="GAN runs: classifier run that explains generated digits."),
    layer: str | None = typer.Option(None, "--layer", help="Grad-CAM family: the layer's dotted module name "
                                     "(default: explain.layer, else the last block making the final feature map)."),
    compare: str | None = typer.Option(None, "--compare", help="Instead of explaining: put this run's (or explain "
                                       "folder's) scorecard beside RUN's: xai explain --compare RUN_A RUN_B."),
) -> None:
    """Explain a model's decisions with saliency maps, measured for faithfulness and sanity."""
    from xaicli import api

    if compare is not None:
        print(api.compare_explanations(compare, run, out=out))
        return
    print(api.explain(run, methods=method, n=n, target=target, inputs=inputs, split=split, out=out,
                      checkpoint=checkpoint, classifier=classifier, layer=layer))


@app.command("config")
@guarded
def config_cmd(
    config: str = typer.Argument(..., help="YAML config."),
    overrides: List[str] | None = typer.Argument(None, help="Overrides: section.key=value ..."),
) -> None:
    """Print the resolved config (defaults < file < overrides) as YAML."""
    from xaicli import config as cfgmod

    print(cfgmod.dump(cfgmod.load(config, list(overrides or []))), end="")


@app.command("list")
@guarded
def list_cmd(what: str | None = typer.Argument(None, help="models, datasets, methods or tasks (default: all)."),
             ) -> None:
    """List the registered models, datasets, explanation methods and run kinds (tasks)."""
    from xaicli import api
    from xaicli.registry import did_you_mean

    regs = api.registries()
    if what is not None and what not in regs:
        raise ConfigError(f"list: unknown registry '{what}'{did_you_mean(what, list(regs))}; "
                          f"choose one of: {', '.join(regs)}")
    for name, names in regs.items():
        if what is None or what == name:
            if what is None:
                print(f"{name}:")
            for entry in names:
                print(f"  {entry}" if what is None else entry)


def main() -> None:
    app(prog_name="xai")


if __name__ == "__main__":
    main()
