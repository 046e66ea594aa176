"""The `edgecomp` application: assembles the command groups. Importing it must stay cheap."""

from __future__ import annotations

import typer

from edgecomp.cli import bench, build, cache, data, env, explore, report, search, targets
from edgecomp.core.version import __version__

app = typer.Typer(
    name="edgecomp",
    help="Compress a Keras image model, export it to TFLite and ONNX, and measure it on the device.",
    no_args_is_help=True,
    # Target profiles carry host names and key paths: never print local variables in tracebacks.
    pretty_exceptions_show_locals=False,
    add_completion=False,
    # Click's plain help: one line per option where it fits, its text beside it. Rich's boxed panels
    # spent half of an 80-column terminal on the option and type columns, so each option's help
    # wrapped over 3-6 lines (and ate `[default: ...]` as markup).
    rich_markup_mode=None,
)
app.command("build")(build.build_command)
app.command("bench")(bench.bench_command)
app.command("env")(env.env_command)
app.command("models")(env.models_command)
app.command("report")(report.report_command)
app.command("search")(search.search_command)
app.command("explore")(explore.explore_command)
app.add_typer(cache.app, name="cache")
app.add_typer(data.app, name="data")
app.add_typer(targets.app, name="targets")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgecomp {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                           help="Print the version and exit."),
) -> None:
    """Compress, export and benchmark Keras image models for phones and boards."""


def run() -> None:
    app()
