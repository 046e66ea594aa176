"""`edgecomp env` and `edgecomp models`: versions, CPU, and the model zoo."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from edgecomp.cli.common import handle_errors


@handle_errors
def env_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the versions of Python, TensorFlow, tfmot, LiteRT, onnxruntime and the CPU."""
    from edgecomp.reporting.assemble import package_versions
    from edgecomp.targets.host import host_facts

    facts = {"versions": package_versions(), "host": host_facts()}
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    table = Table("component", "version / value", title="edgecomp environment")
    for key, value in {**facts["versions"], **facts["host"]}.items():
        table.add_row(key, str(value) if value is not None else "not installed")
    Console().print(table)


@handle_errors
def models_command() -> None:
    """List the zoo models (any .keras / .h5 / SavedModel path works as --model too)."""
    from edgecomp.models.zoo import ZOO

    table = Table("name", "stage widths", "convs/stage", "dense", title="model zoo")
    for name in ZOO.names():
        spec = ZOO.get(name)
        table.add_row(name, str(spec.stage_widths), str(spec.convs_per_stage), str(spec.dense_units))
    Console().print(table)
