"""`edgecomp explore RUN_DIR [--artifact NAME]`: an artifact in Model Explorer with its per-layer overlays."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgecomp.cli.common import handle_errors


@handle_errors
def explore_command(
    run_dir: Path = typer.Argument(..., help="The folder of an `edgecomp build` run (holds report.json)."),
    artifact: Optional[str] = typer.Option(None, "--artifact", help="A .tflite artifact's name; default: the ★ one."),
    port: int = typer.Option(8080, "--port", help="Model Explorer's port on 127.0.0.1."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Serve only; do not open a browser."),
) -> None:
    """Open one artifact in Model Explorer with every layer's numbers (error, bits, params, MACs, zeros)."""
    from edgecomp.reporting.explore import find_explore_target, open_in_model_explorer

    target = find_explore_target(run_dir, artifact)
    typer.echo(f"explore: {target.artifact} with {len(target.node_data)} overlays "
               f"({', '.join(p.stem for p in target.node_data) or 'none: the run wrote no node data'})")
    open_in_model_explorer(target, port, open_browser=not no_browser)
