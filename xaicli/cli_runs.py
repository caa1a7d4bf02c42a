"""The commands for many runs: `xai runs` (list), `xai runs compare`, `xai sweep`, `xai export`, and
`xai completion`. Thin like the others in cli.py: parse, call one API function, print. They are added to
cli.py's app by `register`, which is handed cli.py's `guarded`, `examples` and command class (this module
does not import cli.py, so the two stay free of an import cycle).
"""

from __future__ import annotations

import json
from typing import Callable, List, Literal

import typer
from typer.core import TyperGroup

from xaicli.completion import complete_overrides, complete_run

Status = Literal["finished", "interrupted", "failed", "running"]
Tracker = Literal["tensorboard", "mlflow"]
Shell = Literal["bash", "zsh", "fish"]
RUNS_PANEL = "Runs at scale"
FILTERS, OUTPUT, WHERE = "Filters", "Output", "Where the points run"


class RunsGroup(TyperGroup):
    """`xai runs [DIR]` lists and `xai runs compare RUN...` compares: a first word naming a subcommand is
    that subcommand, not the folder DIR (use ./compare for a folder of that name). Options may follow DIR."""

    allow_interspersed_args = True

    def parse_args(self, ctx, args):
        if args and args[0] in self.commands:
            super().parse_args(ctx, [])  # the listing's own options and DIR keep their defaults
            ctx._protected_args, ctx.args = args[:1], args[1:]
            return ctx.args
        return super().parse_args(ctx, args)


def _complete_kind(incomplete: str) -> list[str]:
    from xaicli.tasks import TASKS

    return [k for k in TASKS.declared_names() if k.startswith(incomplete or "")]


def register(app: typer.Typer, guarded: Callable, examples: Callable[..., str], command_cls: type) -> None:
    """Add the commands of this module to `app`."""
    runs_app = typer.Typer(cls=RunsGroup, rich_markup_mode="rich", context_settings=app.info.context_settings,
                           subcommand_metavar="| compare RUN...")

    @runs_app.callback(invoke_without_command=True, epilog=examples(
        "xai runs", "xai runs runs/mnist_cnn-sweep-1a2b3c4d --status finished",
        "xai runs --kind gan --name 'mnist*' --json",
        "xai runs compare runs/mnist_cnn-001 runs/mnist_cnn-002"))
    @guarded
    def runs(
        ctx: typer.Context,
        folder: str = typer.Argument("runs", metavar="DIR", help="Folder of runs (searched 3 levels deep).",
                                     show_default=True),
        kind: str | None = typer.Option(None, "--kind", metavar="KIND", autocompletion=_complete_kind,
                                        help="Only runs of this kind: classifier or gan.", rich_help_panel=FILTERS),
        name: str | None = typer.Option(None, "--name", metavar="GLOB", rich_help_panel=FILTERS,
                                        help="Only runs whose path under DIR, or folder name, matches."),
        status: Status | None = typer.Option(None, "--status", help="Only runs in this state.",
                                             rich_help_panel=FILTERS),
        last: int | None = typer.Option(None, "--last", metavar="N", min=1, help="Only the N newest.",
                                        rich_help_panel=FILTERS),
        as_json: bool = typer.Option(False, "--json", metavar="", help="Print the summaries as JSON.",
                                     rich_help_panel=OUTPUT),
    ) -> None:
        """List runs, newest first: kind, data, model, status, epochs, best score, evaluation, start, time."""
        if ctx.invoked_subcommand is not None:
            return
        from xaicli import api
        from xaicli.viz.runs_table import print_result, runs_table

        rows = api.list_runs(folder, kind=kind, name=name, status=status)[:last]
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        if not rows:
            print(f"no runs in {folder}" + (" match" if any((kind, name, status)) else ""))
            return
        print_result(runs_table(rows, title=f"{len(rows)} runs in {folder}"))

    @runs_app.command("compare", epilog=examples(
        "xai runs compare runs/mnist_cnn-001 runs/mnist_cnn-002",
        "xai runs compare runs/mnist_cnn-sweep-1a2b3c4d/* --out lr.png"))
    @guarded
    def compare(
        run_dirs: List[str] = typer.Argument(..., metavar="RUN...", autocompletion=complete_run,
                                             help="Two or more run directories."),
        out: str | None = typer.Option(None, "--out", metavar="FILE", rich_help_panel=OUTPUT,
                                       help="The curves' PNG (default: compare-NNN.png beside the runs)."),
        no_plot: bool = typer.Option(False, "--no-plot", metavar="", help="Tables only.", rich_help_panel=OUTPUT),
        as_json: bool = typer.Option(False, "--json", metavar="", help="Print the comparison as JSON.",
                                     rich_help_panel=OUTPUT),
    ) -> None:
        """Compare runs: config keys that differ, metrics side by side, curves in one plot (its path last)."""
        from xaicli import api
        from xaicli.viz.runs_table import print_result, side_by_side

        result = api.compare_runs(run_dirs, out=out, plot=not no_plot)
        if as_json:
            print(json.dumps(result, indent=2, default=str))
            return
        if result["config"]:
            print_result(side_by_side("config keys that differ", "key", result["runs"], result["config"]))
        else:
            print("the configs are the same")
        print_result(side_by_side("metrics", "metric", result["runs"], result["metrics"]))
        if result["plot"]:
            print(result["plot"])

    app.add_typer(runs_app, name="runs", rich_help_panel=RUNS_PANEL,
                  help="List runs (xai runs [DIR]) and compare them (xai runs compare RUN...).")

    @app.command("sweep", cls=command_cls, rich_help_panel=RUNS_PANEL, epilog=examples(
        "xai sweep configs/mnist_cnn.yaml optim.lr=1e-3,3e-3,1e-2 seed=0:3",
        "xai sweep configs/mnist_cnn.yaml model.name=cnn,fast_cnn seed=0:5 --gpus 0,1,2,3",
        "xai sweep configs/smoke_cnn.yaml optim.lr=1e-3,1e-2 --max-parallel 2",
        "xai sweep configs/mnist_cnn.yaml optim.lr=1e-3,1e-2 seed=0:3 --slurm --dry-run",
        "(the same command again finishes what is missing: a killed sweep resumes, nothing runs twice)"))
    @guarded
    def sweep(
        config: str = typer.Argument(..., metavar="CONFIG", help="YAML config of every point."),
        grid: List[str] | None = typer.Argument(
            None, metavar="KEY=VALUES...", autocompletion=complete_overrides,
            help="key=a,b,c is an axis, seed=0:5 a range (0 to 4), key=v a fixed override."),
        gpus: str | None = typer.Option(None, "--gpus", metavar="0,1,...", rich_help_panel=WHERE,
                                        help="One process per GPU (CUDA_VISIBLE_DEVICES)."),
        max_parallel: int | None = typer.Option(None, "--max-parallel", metavar="N", min=1, rich_help_panel=WHERE,
                                                help="Processes at once (default: one per GPU, else 1); with "
                                                     "--slurm, array tasks at once."),
        slurm: bool = typer.Option(False, "--slurm", metavar="", rich_help_panel=WHERE,
                                   help="Write and submit a SLURM job array (requeue and resume per point)."),
        dry_run: bool = typer.Option(False, "--dry-run", metavar="", rich_help_panel=WHERE,
                                     help="Show the points (with --slurm: write the array job) and run nothing."),
        name: str | None = typer.Option(None, "--name", metavar="NAME",
                                        help="The sweep's folder under train.runs_dir (default: "
                                             "<config name>-sweep-<id of the config file and grid>)."),
        retry_failed: bool = typer.Option(False, "--retry-failed", metavar="",
                                          help="Run failed points again (interrupted ones always resume)."),
        as_json: bool = typer.Option(False, "--json", metavar="", rich_help_panel=OUTPUT,
                                     help="Print the points and the summary as JSON."),
    ) -> None:
        """Run a grid of overrides and seeds: one normal run per point, mean ± std over seeds."""
        from xaicli import api
        from xaicli.errors import Interrupted, XaiError
        from xaicli.viz.runs_table import print_sweep

        gpu_list = [g.strip() for g in gpus.split(",") if g.strip()] if gpus else None
        result = api.sweep(config, list(grid or []), name=name, gpus=gpu_list, max_parallel=max_parallel,
                           slurm=slurm, dry_run=dry_run, retry_failed=retry_failed)
        if as_json:
            print(json.dumps(result, indent=2, default=str))
        else:
            print_sweep(result)
        print(result["sweep_dir"])
        failed = [p["name"] for p in result["points"] if p.get("state") == "failed"]
        if result["stopped"]:
            code = 130 if result["stopped"] == 2 else 143
            raise Interrupted("sweep stopped; run the same command again to resume it", code)
        if failed and not dry_run:
            raise XaiError(f"{len(failed)} of {len(result['points'])} points failed ({', '.join(failed[:3])}"
                           f"{', ...' if len(failed) > 3 else ''}); their output: {result['sweep_dir']}/logs/")

    @app.command("export", rich_help_panel=RUNS_PANEL, epilog=examples(
        "xai export runs/mnist_cnn-001 --to tensorboard   (then: tensorboard --logdir runs)",
        "xai export runs/mnist_gan-001 --to mlflow        (then: mlflow ui --backend-store-uri sqlite:///mlflow.db)"))
    @guarded
    def export(
        run: str = typer.Argument(..., metavar="RUN", autocompletion=complete_run, help="Run directory."),
        to: Tracker = typer.Option(..., "--to", help="The tracker to replay the run into."),
        out: str | None = typer.Option(None, "--out", metavar="DIR",
                                       help="TensorBoard: write the events here (default RUN/tb/)."),
    ) -> None:
        """Replay a finished run (metrics, grids, evaluations, explanations) into TensorBoard or MLflow."""
        from xaicli import api

        print(api.export_run(run, to, out))

    @app.command("completion", rich_help_panel="Setup", epilog=examples(
        "xai --install-completion            (for the shell you are in)",
        "xai completion bash > ~/.bash_completions/xai.sh",
        "eval \"$(xai completion zsh)\""))
    @guarded
    def completion(shell: Shell = typer.Argument(..., metavar="bash|zsh|fish", help="The shell.")) -> None:
        """Print the shell completion script (commands, options, config keys, registry names, runs)."""
        from xaicli.completion import completion_script

        print(completion_script(shell))
