"""`edgecomp cache ...`: list and clear the stage cache (see `edgecomp.run.stage_cache`). No TensorFlow import."""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from edgecomp.cli.common import handle_errors

app = typer.Typer(help="The stage cache: list its entries, clear them.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_command() -> None:
    """List the cached stage outputs (key, stage, model, created, size) and their total size."""
    from edgecomp.core.cache_store import human_size, list_entries, stages_dir

    entries = list_entries()
    table = Table("key", "stage", "model", "created", "size", title=f"stage cache: {stages_dir()}")
    for entry in entries:
        created = entry.created.astimezone().strftime("%Y-%m-%d %H:%M") if entry.created else "unreadable"
        table.add_row(entry.key[:12], entry.stage, entry.model, created, human_size(entry.size_bytes))
    console = Console(width=200 if not Console().is_terminal else None)
    console.print(table)
    console.print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, "
                  f"{human_size(sum(e.size_bytes for e in entries))} in total")


@app.command("clear")
@handle_errors
def clear_command(
    stage: Optional[str] = typer.Option(None, "--stage", help="Only entries of this stage (train, distill, ...)."),
    older_than: Optional[str] = typer.Option(None, "--older-than", help="Only entries older than this: 30m, 12h, 7d."),
) -> None:
    """Remove cached stage outputs (all of them, or those matching --stage / --older-than)."""
    from edgecomp.core.cache_store import clear_entries, human_size, parse_age
    from edgecomp.core.errors import UsageError
    from edgecomp.core.settings import did_you_mean
    from edgecomp.plan.stage_settings import STAGE_NAMES

    if stage is not None and stage not in STAGE_NAMES:  # a typo gets a did-you-mean, not "0 entries removed"
        raise UsageError(did_you_mean("stage", stage, STAGE_NAMES))
    count, freed = clear_entries(stage=stage, older_than_seconds=parse_age(older_than) if older_than else None)
    typer.echo(f"removed {count} entr{'y' if count == 1 else 'ies'}, {human_size(freed)} freed")
