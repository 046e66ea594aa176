"""What every command shares: turning EdgecompError into one line and an exit code, Ctrl-C, targets."""

from __future__ import annotations

import functools
import inspect
import shlex
import sys
from enum import Enum
from typing import Optional

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


# ---- options several commands take: defined once, here ------------------------------------------
# Each group becomes flags of every command that declares a parameter of the group's name, and
# the command receives them as one dict (see `shared_options`). Units are in the names and the
# same for every command: sizes in MB or kB (10^6 / 10^3 bytes), latency in ms, accuracy in percent.

# Connection overrides (the environment variables EDGECOMP_SSH_HOST, EDGECOMP_SSH_USER,
# EDGECOMP_SSH_PORT, EDGECOMP_SSH_KEY and EDGECOMP_ADB_SERIAL work too).
CONNECTION_PANEL, GATES_PANEL, BUDGET_PANEL = "Target connection", "Quality gates (exit code 3 on a miss)", "Budget"
CONNECTION_OPTIONS = {
    "host": (Optional[str], typer.Option(None, "--host", rich_help_panel=CONNECTION_PANEL,
                                         help="SSH host of the target (overrides the profile).")),
    "port": (Optional[int], typer.Option(None, "--port", min=1, max=65535, rich_help_panel=CONNECTION_PANEL,
                                         help="SSH port of the target.")),
    "user": (Optional[str], typer.Option(None, "--user", rich_help_panel=CONNECTION_PANEL,
                                         help="SSH user on the target.")),
    "key": (Optional[str], typer.Option(None, "--key", rich_help_panel=CONNECTION_PANEL,
                                        help="SSH private key file.")),
    "serial": (Optional[str], typer.Option(None, "--serial", rich_help_panel=CONNECTION_PANEL,
                                           help="adb serial of the Android device.")),
}


class GateScope(str, Enum):
    every = "every"
    any = "any"


def max_latency_option(panel: str) -> tuple:
    return Optional[float], typer.Option(None, "--max-latency-ms", min=0, help="Largest latency p50 in ms.",
                                         rich_help_panel=panel)


def min_accuracy_option(panel: str) -> tuple:
    return Optional[float], typer.Option(None, "--min-accuracy", min=0, max=100, rich_help_panel=panel,
                                         help="Smallest accuracy in percent (89.5 = 89.5 %).")


# Quality gates of `build`, `bench` and `report` (edgecomp.reporting.gates).
GATE_OPTIONS = {
    "max_size_mb": (Optional[float], typer.Option(None, "--max-size-mb", min=0, rich_help_panel=GATES_PANEL,
                                                  help="Largest file size in MB (10^6 bytes, raw not gzip).")),
    "max_latency_ms": max_latency_option(GATES_PANEL),
    "min_accuracy": min_accuracy_option(GATES_PANEL),
    "gate_scope": (GateScope, typer.Option(GateScope.every, "--gate-scope", rich_help_panel=GATES_PANEL,
                                           help="every: each artifact must pass the gates (failed ones count "
                                                "as misses); any: one ok artifact passing them all is enough.")),
}
# The budget of `search` (edgecomp.budget_search.budget): the same latency and accuracy flags as the gates.
BUDGET_OPTIONS = {
    "max_size_kb": (Optional[float], typer.Option(None, "--max-size-kb", min=0, rich_help_panel=BUDGET_PANEL,
                                                  help="Largest file in kB (10^3 bytes, raw).")),
    "max_gzip_kb": (Optional[float], typer.Option(None, "--max-gzip-kb", min=0, rich_help_panel=BUDGET_PANEL,
                                                  help="Largest gzip-compressed file in kB.")),
    "max_latency_ms": max_latency_option(BUDGET_PANEL),
    "max_memory_mb": (Optional[float], typer.Option(None, "--max-memory-mb", min=0, rich_help_panel=BUDGET_PANEL,
                                                    help="Largest model memory (its own peak RSS on the target, "
                                                         "model_peak_mb) in MB.")),
    "min_accuracy": min_accuracy_option(BUDGET_PANEL),
}
OPTION_GROUPS = {"connection": CONNECTION_OPTIONS, "gates": GATE_OPTIONS, "budget": BUDGET_OPTIONS}


def shared_options(command):
    """Decorator: each parameter of `command` named after a group of OPTION_GROUPS (connection, gates,
    budget) becomes that group's flags on the command line, and reaches `command` as one dict
    {option name: value} (enums as their values).
    """
    signature = inspect.signature(command)
    groups = [name for name in signature.parameters if name in OPTION_GROUPS]
    parameters = [p for p in signature.parameters.values() if p.name not in groups]
    for group in groups:
        parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
                       for name, (kind, option) in OPTION_GROUPS[group].items()]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        for group in groups:
            kwargs[group] = {name: getattr(value, "value", value)
                             for name, value in ((n, kwargs.pop(n)) for n in OPTION_GROUPS[group])}
        return command(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=parameters)
    return wrapper


TARGET_OPTION = typer.Option("host", help="Target profile name (see `edgecomp targets list`) or YAML path.")
# `build` and `search`: --target repeated measures on several devices.
TARGETS_OPTION = typer.Option(["host"], "--target",
                              help="Target profile name (see `edgecomp targets list`) or YAML path; repeat it to "
                                   "measure on several devices (every profile is loaded before any work).")
DATASET_OPTION = typer.Option(None, help="fashion_mnist, mnist, cifar10, cifar100, a .npz or a folder.")
VERBOSE_OPTION = typer.Option(False, "--verbose", "-v",
                              help="Show TensorFlow / LiteRT / onnxruntime logging and each runner's stderr.")
WIDE_OPTION = typer.Option(False, "--wide", help="Terminal table: every column (the report files always have "
                                                 "every field) instead of the eight that fit 100 columns.")
