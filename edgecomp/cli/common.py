"""What every command shares: turning EdgecompError into one line and an exit code, Ctrl-C, targets."""

from __future__ import annotations

import functools
import shlex
import sys

import typer
from rich.console import Console

from edgecomp.errors import EdgecompError

err_console = Console(stderr=True, highlight=False)
EXIT_INTERRUPTED = 130


def handle_errors(command):
    """Decorator: an EdgecompError prints `error: ...` on stderr and exits with its code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except EdgecompError as err:
            err_console.print(f"[bold red]error:[/bold red] {err}", soft_wrap=True)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted:[/yellow] finished steps' files are kept; run the same "
                              "command again to resume (a trained teacher is cached).")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def invoked_command() -> str:
    """The command line as typed, for the report (arguments quoted, nothing secret is passed as a flag)."""
    return "edgecomp " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])


def resolve_target(name: str):
    """A Target for a profile name or YAML path."""
    from edgecomp.adapters.host import HostTarget

    if name == "host":
        return HostTarget()
    from edgecomp.errors import UsageError

    raise UsageError(f"unknown target {name!r}; valid targets: host")
