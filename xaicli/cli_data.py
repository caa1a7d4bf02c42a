"""`xai data check`: a folder or CSV of the user's own images, checked file by file."""

from __future__ import annotations

import json
from typing import Callable

import typer


def register(app: typer.Typer, guarded: Callable) -> None:
    """Add `xai data` and its `check` command to `app`."""
    data_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                           help="Check a folder or CSV of your own images.")
    app.add_typer(data_app, name="data")

    @data_app.command("check")
    @guarded
    def data_check(
        path: str = typer.Argument(..., metavar="PATH", help="A folder (ROOT/train/<class>/ or ROOT/<class>/) "
                                   "or a CSV file (path,label[,split])."),
        workers: int = typer.Option(0, "--workers", help="Decoding threads (0: one per CPU core).", min=0),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on standard output."),
    ) -> None:
        """List the classes and counts per split; find corrupt, truncated and misnamed files, empty or missing
        classes and images in two splits. Exit 1 when any defect is found."""
        from xaicli import api

        report = api.check_data(path, workers)
        print(json.dumps(report.to_dict(), indent=2) if as_json else "\n".join(report.lines()))
        if not report.ok:
            raise typer.Exit(1)
