"""The `xai` command line: thin commands that parse flags, call one API function and print the result.

Torch is imported inside the commands only, so `xai --help` and `xai config` answer quickly.
Exit codes: 0 ok, 1 runtime failure, 2 usage or config error, 130 / 143 interrupted after saving.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Callable, List, Literal, NoReturn

import typer
from typer.core import TyperArgument, TyperCommand

from xaicli import cli_data, cli_runs
from xaicli.cli_explain import HELP
from xaicli.completion import complete_method, complete_overrides, complete_registry, complete_run
from xaicli.errors import ConfigError, XaiError

app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode="rich",
                  help="Train, evaluate, sample and explain PyTorch image models.\n\n"
                       "Start with [bold]xai train configs/mnist_cnn.yaml[/bold]; every command takes "
                       "[bold]--help[/bold]. Config values are KEY=VALUE overrides (train.epochs=3).",
                  context_settings={"help_option_names": ["-h", "--help"]})
_opts = {"debug": False}

# An argument's name already says what it is (CONFIG, RUN, KEY=VALUE...): no Python type beside it.
TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]

Split = Literal["train", "val", "test"]
DataSource = Literal["auto", "local", "download", "embedded"]
CHECKPOINT_HELP = "best, last, or a checkpoint file."
DATA_SOURCE_HELP = "Use other data than the run recorded (default: what the run was trained on)."
ONE_RUN, SETUP = "Train and inspect a run", "Setup"  # the command groups of `xai --help`


def _fail(message: str, code: int) -> NoReturn:
    try:
        print(f"error: {message}", file=sys.stderr)
    except (OSError, ValueError):
        pass  # standard error is closed (xai train ... 2>&1 | head): log.txt and meta.json keep the error
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


class HintingCommand(TyperCommand):
    """`--epochs 3` is not an option: say to write the config override `train.epochs=3` instead."""

    def parse_args(self, ctx, args):
        given = list(args)  # the parser consumes `args`
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:
            name = getattr(exc, "option_name", None)
            if name and hasattr(exc, "message"):
                from xaicli.config import all_keys

                leaf = name.split("=", 1)[0].lstrip("-").replace("-", "_")
                keys = [k for k in all_keys() if k.rsplit(".", 1)[-1] == leaf]
                if keys:
                    value = _value_after(given, name)
                    exc.message = (f"{exc.message}; config values are KEY=VALUE overrides: write "
                                   f"{keys[0]}={value}" + (f" (or {', '.join(keys[1:])})" if keys[1:] else ""))
            raise


def _value_after(args: list[str], option: str) -> str:
    """The value a user gave an unknown option (`--epochs 3`, `--epochs=3`), else VALUE."""
    for i, arg in enumerate(args):
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
        if arg == option and i + 1 < len(args) and not args[i + 1].startswith("-"):
            return args[i + 1]
    return "VALUE"


def examples(*lines: str) -> str:
    """An epilog of example command lines for a command's help."""
    return "[bold]Examples[/bold]\n\n" + "\n\n".join(f"  [cyan]{line}[/cyan]" for line in lines)


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


@app.command(cls=HintingCommand, rich_help_panel=ONE_RUN, epilog=examples(
    "xai train configs/mnist_cnn.yaml",
    "xai train configs/mnist_cnn.yaml train.epochs=3 optim.lr=1e-3 --run-dir runs/quick",
    "xai train --resume runs/mnist_cnn-001                  (continue a stopped run)",
    "xai train --resume runs/mnist_cnn-001 train.epochs=20  (extend a finished run)",
    "xai train configs/mnist_cnn.yaml --dry-run"))
@guarded
def train(
    config: str | None = typer.Argument(None, metavar="CONFIG", help="YAML config (optional with --resume)."),
    overrides: List[str] | None = typer.Argument(
        None, metavar="KEY=VALUE...", help="Config overrides, e.g. train.epochs=3 (see xai config --explain).",
        autocompletion=complete_overrides),
    run_dir: str | None = typer.Option(None, "--run-dir", metavar="DIR",
                                       help="Write the run here (a new or empty folder) instead of runs/NAME-NNN."),
    resume: str | None = typer.Option(None, "--resume", metavar="RUN", autocompletion=complete_run,
                                      help="Continue this run directory (a larger train.epochs extends it)."),
    print_config: bool = typer.Option(False, "--print-config", metavar="",
                                      help="Print the resolved config and exit."),
    dry_run: bool = typer.Option(False, "--dry-run", metavar="",
                                 help="Build data and model, print a summary, train nothing."),
) -> None:
    """Train a model; the run directory is the last line of standard output."""
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


@app.command("eval", rich_help_panel=ONE_RUN, epilog=examples(
    "xai eval runs/mnist_cnn-001",
    "xai eval runs/mnist_cnn-001 --checkpoint best --split val --json",
    "xai eval runs/mnist_gan-001 --classifier runs/mnist_cnn-001"))
@guarded
def eval_cmd(
    run: str = typer.Argument(..., metavar="RUN", help="Run directory (or a checkpoint inside one).",
                              autocompletion=complete_run),
    checkpoint: str = typer.Option("last", "--checkpoint", metavar="best|last|PATH", help=CHECKPOINT_HELP,
                                   show_default=True),
    split: Split | None = typer.Option(None, "--split", help="Images to score (default: eval.split, test)."),
    classifier: str | None = typer.Option(None, "--classifier", metavar="RUN",
                                          help="GAN runs: the classifier run whose features score the images."),
    data_source: DataSource | None = typer.Option(None, "--data-source", help=DATA_SOURCE_HELP),
    as_json: bool = typer.Option(False, "--json", metavar="", help="Print the metrics as JSON on standard output "
                                 "(a read-only run is only warned about)."),
    out: str | None = typer.Option(None, "--out", metavar="DIR", help="Write metrics.json and plots here (a new or "
                                   "empty folder) instead of into the run."),
) -> None:
    """Evaluate a run: accuracy, NLL, ECE, per-class accuracy (classifiers); FID, KID, precision, recall (GANs)."""
    from xaicli import api
    from xaicli.evaluation.command import eval_summary
    from xaicli.viz import console

    metrics = api.evaluate(run, checkpoint, split, classifier, data_source, out=out,
                           must_write=not as_json or out is not None)
    head, tail = eval_summary(metrics)
    for line in head:
        console.info(line)
    if as_json:
        print(json.dumps(metrics, indent=2))
    else:
        from xaicli.viz.tables import metrics_table, print_table

        print_table(metrics_table(metrics), to_stdout=True)
    for line in tail:
        console.info(line)


@app.command(rich_help_panel=ONE_RUN, epilog=examples(
    "xai sample runs/mnist_gan-001 -n 64 --seed 0",
    "xai sample runs/mnist_cgan-001 --label 7",
    "xai sample runs/mnist_gan-001 --interpolate -n 16 --out interp/"))
@guarded
def sample(
    run: str = typer.Argument(..., metavar="RUN", help="GAN run directory.", autocompletion=complete_run),
    n: int = typer.Option(64, "-n", metavar="N", help="Number of images.", min=1, show_default=True),
    seed: int = typer.Option(0, "--seed", metavar="S", help="Noise seed: the same seed gives the same images.",
                             show_default=True),
    label: int | None = typer.Option(None, "--label", metavar="K", help="Class to generate (conditional GANs)."),
    interpolate: bool = typer.Option(False, "--interpolate", metavar="",
                                     help="Images along a path between two latent points, as a grid."),
    out: str | None = typer.Option(None, "--out", metavar="DIR", help="Output folder (default RUN/samples/NNN)."),
    checkpoint: str = typer.Option("last", "--checkpoint", metavar="best|last|PATH", help=CHECKPOINT_HELP,
                                   show_default=True),
    data_source: DataSource | None = typer.Option(None, "--data-source", help=DATA_SOURCE_HELP),
) -> None:
    """Generate images from a GAN run; the output folder is the last line of standard output."""
    from xaicli import api

    print(api.sample(run, n=n, seed=seed, label=label, interpolate=interpolate, out=out, checkpoint=checkpoint,
                     data_source=data_source))


def _method_help() -> str:
    from xaicli.explain.registry import METHODS, PREFIXES

    return (f"Attribution method, repeatable: {', '.join(METHODS.declared_names())}; or "
            f"{', '.join(p + ':NAME' for p in PREFIXES.declared_names())} (default: explain.methods).")


@app.command(rich_help_panel=ONE_RUN, epilog=examples(
    "xai explain runs/mnist_cnn-001",
    "xai explain runs/mnist_cnn-001 --method integrated_gradients --method smoothgrad:saliency -n 16",
    "xai explain runs/mnist_cnn-001 --target label --split val --layer 9",
    "xai explain runs/mnist_gan-001 --classifier runs/mnist_cnn-001 --inputs generated",
    "xai explain --model torchvision:resnet50 --weights IMAGENET1K_V2 --images photos/ --target tabby",
    "xai explain runs/folder_cnn-001 --images cat.jpg dog.png"))
@guarded
def explain(
    run: List[str] | None = typer.Argument(None, metavar="RUN", autocompletion=complete_run,
                                           help="Run directory (with --images, more image paths may follow)."),
    images: List[str] | None = typer.Option(None, "--images", metavar="PATH...", help=HELP["images"]),
    model: str | None = typer.Option(None, "--model", metavar="SPEC", help=HELP["model"]),
    weights: str | None = typer.Option(None, "--weights", metavar="FILE|ENUM", help=HELP["weights"]),
    no_sanity: bool = typer.Option(False, "--no-sanity", help=HELP["no_sanity"]),
    allow_download: bool = typer.Option(False, "--allow-download", help=HELP["allow_download"]),
    method: List[str] | None = typer.Option(None, "--method", metavar="NAME", help=_method_help(),
                                            autocompletion=complete_method),
    n: int | None = typer.Option(None, "-n", metavar="N", help=HELP["n"], min=1),
    target: str | None = typer.Option(None, "--target", metavar="pred|label|K|NAME",
                                      help="The class explained: the prediction, the true label, class K, or a "
                                           "class by name (tabby)."),
    inputs: Literal["real", "generated"] | None = typer.Option(None, "--inputs", help="GAN runs: which images."),
    split: Split | None = typer.Option(None, "--split", help="Where the images come from (default: test)."),
    out: str | None = typer.Option(None, "--out", metavar="DIR", help="Output folder (default RUN/explain/NNN)."),
    checkpoint: str = typer.Option("last", "--checkpoint", metavar="best|last|PATH", help=CHECKPOINT_HELP,
                                   show_default=True),
    classifier: str | None = typer.Option(None, "--classifier", metavar="RUN",
                                          help="GAN runs: a classifier run that explains generated images."),
    layer: str | None = typer.Option(None, "--layer", metavar="MODULE",
                                     help="Grad-CAM family: the layer's dotted module name (default: explain.layer, "
                                          "else the last block making the final feature map)."),
    data_source: DataSource | None = typer.Option(None, "--data-source", help=DATA_SOURCE_HELP),
    compare: str | None = typer.Option(None, "--compare", metavar="RUN|DIR",
                                       help="Instead of explaining: put this run's (or explain folder's) scorecard "
                                            "beside RUN's: xai explain --compare RUN_A RUN_B."),
) -> None:
    """Explain a model's decisions with saliency maps, measured for faithfulness and sanity; the output
    folder (report.html) is the last line of standard output."""
    from xaicli.cli_explain import dispatch

    dispatch(dict(locals()))


@app.command("config", rich_help_panel=SETUP, epilog=examples(
    "xai config configs/mnist_cnn.yaml train.epochs=1",
    "xai config --explain",
    "xai config --explain configs/mnist_cnn.yaml   (every key with this config's value)"))
@guarded
def config_cmd(
    config: str | None = typer.Argument(None, metavar="CONFIG", help="YAML config."),
    overrides: List[str] | None = typer.Argument(None, metavar="KEY=VALUE...", help="Config overrides.",
                                                 autocompletion=complete_overrides),
    explain_keys: bool = typer.Option(False, "--explain", metavar="",
                                      help="List every config key: default, accepted values, meaning."),
) -> None:
    """Print the resolved config (defaults < file < overrides) as YAML, or explain every key."""
    from xaicli import config as cfgmod

    if explain_keys:
        from xaicli.viz.tables import config_fields_table, config_fields_text, print_table

        cfg = cfgmod.load(config, list(overrides or [])) if config is not None else None
        if sys.stdout.isatty():
            print_table(config_fields_table(cfg), to_stdout=True)
        else:
            print(config_fields_text(cfg))
        return
    if config is None:
        raise ConfigError("config: give a CONFIG file, or --explain to list every key")
    print(cfgmod.dump(cfgmod.load(config, list(overrides or []))), end="")


@app.command("list", rich_help_panel=SETUP, epilog=examples("xai list", "xai list methods"))
@guarded
def list_cmd(what: str | None = typer.Argument(None, metavar="[models|datasets|methods|tasks]",
                                               help="One registry (default: all).",
                                               autocompletion=complete_registry)) -> None:
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
    if what in (None, "models"):  # on stderr: stdout stays one registry name a line
        typer.echo("models from elsewhere: torchvision:NAME, timm:NAME (pip install -e \".[timm]\"), "
                   "module.path:callable or file.py:callable (README: Models from elsewhere)", err=True)


cli_data.register(app, guarded)
cli_runs.register(app, guarded, examples, HintingCommand)


def main() -> None:
    try:
        if "_XAI_COMPLETE" in os.environ:  # a TAB: Typer's shell classes, with bash seeing whole words
            from typer.main import get_command

            from xaicli.completion import skip_value_coercion, use_whole_words_in_bash

            command = get_command(app)
            use_whole_words_in_bash()
            skip_value_coercion()
            command(prog_name="xai")
            return
        app(prog_name="xai")
    finally:
        _quiet_closed_streams()


def _quiet_closed_streams() -> None:
    """A closed pipe on stdout or stderr must not turn the exit code into 120 when Python flushes them
    at exit: point such a stream at /dev/null."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            except (OSError, ValueError):
                pass


if __name__ == "__main__":
    main()
