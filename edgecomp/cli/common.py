"""What every command shares: turning EdgecompError into one line and an exit code, Ctrl-C, targets."""

from __future__ import annotations

import functools
import shlex
import sys

import typer
from rich.console import Console

from edgecomp.core.errors import EdgecompError

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
        except Exception as err:
            # A bug: the traceback follows, and the notes saying where it happened come first.
            for note in getattr(err, "__notes__", None) or []:
                err_console.print(f"[bold red]error:[/bold red] {note}", soft_wrap=True)
            raise
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted:[/yellow] finished steps' files are kept; run the same "
                              "command again to resume after the last finished stage (stages are cached).")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def invoked_command() -> str:
    """The command line as typed, for the report (arguments quoted, nothing secret is passed as a flag)."""
    return "edgecomp " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])


# Connection overrides shared by `build` and `bench` (the environment variables EDGECOMP_SSH_HOST,
# EDGECOMP_SSH_USER, EDGECOMP_SSH_PORT, EDGECOMP_SSH_KEY and EDGECOMP_ADB_SERIAL work too).
HOST_OPTION = typer.Option(None, "--host", help="SSH host of the target (overrides the profile).")
PORT_OPTION = typer.Option(None, "--port", min=1, max=65535, help="SSH port of the target.")
USER_OPTION = typer.Option(None, "--user", help="SSH user on the target.")
KEY_OPTION = typer.Option(None, "--key", help="SSH private key file.")
SERIAL_OPTION = typer.Option(None, "--serial", help="adb serial of the Android device.")
TARGET_OPTION = typer.Option("host", help="Target profile name (see `edgecomp targets list`) or YAML path.")
DATASET_OPTION = typer.Option(None, help="fashion_mnist, mnist, cifar10, cifar100, a .npz or a folder.")
VERBOSE_OPTION = typer.Option(False, "--verbose", "-v",
                              help="Show TensorFlow / LiteRT / onnxruntime logging and each runner's stderr.")



def resolve_target(name: str, **connection_overrides):
    """A Target for a profile name or YAML path, with --host/--port/... flags applied on top."""
    from edgecomp.targets.profiles import resolve_target as resolve_profile_target

    return resolve_profile_target(name, **connection_overrides)
