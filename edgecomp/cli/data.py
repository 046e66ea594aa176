"""`edgecomp data ...`: what datasets exist and where they are read from."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from edgecomp.cli.common import handle_errors

app = typer.Typer(help="Datasets: list them and check they load.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_command() -> None:
    """List the dataset names; any .npz file or image folder works too."""
    from edgecomp.data.dataset import DATASETS, _find_idx_dir

    table = Table("name", "found locally at", title="datasets")
    local = {"fashion_mnist": "fashion-mnist", "mnist": "mnist"}
    for name in DATASETS.names():
        folder = _find_idx_dir(local[name], name) if name in local else None
        table.add_row(name, str(folder) if folder else "not here: Keras downloads it (needs internet)")
    table.add_row("PATH.npz", "x_train, y_train, x_test, y_test arrays")
    table.add_row("FOLDER/", "one sub-folder of images per class")
    Console().print(table)


@app.command("check")
@handle_errors
def check_command(name: str = typer.Argument(..., help="Dataset name, .npz path or image folder.")) -> None:
    """Load a dataset and print its shape, classes and splits."""
    import json

    from edgecomp.data.dataset import load_dataset

    typer.echo(json.dumps(load_dataset(name).describe(), indent=2))
