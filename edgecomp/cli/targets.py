"""`edgecomp targets list | check NAME | setup NAME`: the device profiles, a doctor for one device, and
LiteRT's benchmark_model fetched for it."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgecomp.cli.common import handle_errors
from edgecomp.core.errors import TargetError

app = typer.Typer(help="Device profiles (targets/*.yaml): list them, check that one is ready, set one up.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)


def _console() -> Console:
    """Made per command, so COLUMNS and redirections at call time are respected."""
    return Console(highlight=False)


def _profiles_table(profiles: list, compact: bool) -> Table:
    """One row per profile. Compact (for narrow terminals): no borders, no `kind` column (the
    connection starts with it), the connection on a second line under the name."""
    columns = ["name", "runtime", "threads", "delegate"] if compact else \
        ["name", "kind", "connection", "runtime", "threads", "delegate"]
    if compact:  # one space between columns, no edges: 78 characters for the profiles shipped
        table = Table(title="Target profiles", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                      padding=(0, 1, 0, 0))
    else:
        table = Table(title="Target profiles")
    for column in columns:
        table.add_column(column, no_wrap=True)
    for name, profile in profiles:
        if compact:
            table.add_row(f"{name}\n[dim]  {escape(profile.connection_summary())}[/dim]", profile.runtime,
                          str(profile.threads), profile.delegate)
        else:
            table.add_row(name, profile.kind, escape(profile.connection_summary()), profile.runtime,
                          str(profile.threads), profile.delegate)
    return table


@app.command("list")
@handle_errors
def list_command() -> None:
    """List the known device profiles and where they are looked up."""
    from edgecomp.targets.profiles import available_profiles, load_profile, profile_dirs

    console = _console()
    profiles = [(name, load_profile(str(path))) for name, path in available_profiles().items()]
    table = _profiles_table(profiles, compact=False)
    natural_width = console.measure(table, options=console.options.update_width(10_000)).maximum
    if natural_width > console.width:  # an 80-column terminal: cells would be cut to "conn…"
        table = _profiles_table(profiles, compact=True)
    console.print(table)
    console.print("searched: " + ", ".join(str(d) for d in profile_dirs()))


@app.command("check")
@handle_errors
def check_command(
    name: str = typer.Argument(..., help="Profile name (see `edgecomp targets list`) or path to a profile YAML."),
    artifact: List[Path] = typer.Option([], "--artifact", "-a", help="A .tflite/.onnx file to try loading "
                                        "on the device (repeatable)."),
    host: Optional[str] = typer.Option(None, help="SSH host, overriding the profile and EDGECOMP_SSH_HOST."),
    port: Optional[int] = typer.Option(None, help="SSH port (EDGECOMP_SSH_PORT)."),
    user: Optional[str] = typer.Option(None, help="SSH user (EDGECOMP_SSH_USER)."),
    key: Optional[str] = typer.Option(None, help="SSH private key file (EDGECOMP_SSH_KEY)."),
    serial: Optional[str] = typer.Option(None, help="adb device serial (EDGECOMP_ADB_SERIAL)."),
) -> None:
    """Doctor: is the device reachable, which Python, numpy and runtime, does each artifact load?"""
    from edgecomp.targets.profiles import resolve_target

    for path in artifact:
        if not path.is_file():
            raise TargetError(f"artifact {path} does not exist.")
    target = resolve_target(name, host=host, user=user, port=port, key=key, serial=serial)
    facts = target.check()
    loads = target.check_loads(artifact) if artifact else []
    console = _console()
    console.print(f"[bold]{target.name}[/bold] ({target.kind}) is reachable")
    # soft_wrap: one line per fact and per artifact whatever the terminal width, so output can be grepped
    for key_name, value in facts.items():
        console.print(f"  {key_name:<16} {escape(_fact_text(value))}", soft_wrap=True)
    for hint in target.hints(facts):
        console.print(f"  [yellow]hint[/yellow]      {escape(hint)}", soft_wrap=True)
    for load in loads:
        console.print("  " + _load_line(load), soft_wrap=True)
    failed = [load.artifact for load in loads if load.failed]
    if failed:
        raise TargetError(f"{len(failed)} artifact(s) do not load on {target.name}: {', '.join(failed)}")


def _fact_text(value) -> str:
    """One fact as text: '-' for nothing, 'key value, ...' for a mapping (e.g. runtimes)."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v if v else '-'}" for k, v in value.items())
    return "-" if value in (None, "") else str(value)


_STATUS_STYLE = {"loads": "green", "not tried": "yellow", "fails": "red"}


def _load_line(load) -> str:
    """'loads     m.tflite (ai_edge_litert 2.3.0, input int8 [1, 28, 28, 1], init 1.2 ms)', or why not."""
    if load.status.value == "loads":
        text = (f"{load.artifact} ({load.runtime} {load.runtime_version}, input {load.io['input_dtype']} "
                f"{load.io['input_shape']}, init {load.init_ms:.1f} ms)")
    else:
        text = f"{load.artifact}: {load.detail}"
    style = _STATUS_STYLE[load.status.value]
    return f"[{style}]{load.status.value:<9}[/{style}] {escape(text)}"




@app.command("setup")
@handle_errors
def setup_command(
    name: str = typer.Argument(..., help="Profile name (see `edgecomp targets list`) or path to a profile YAML."),
    platform: Optional[str] = typer.Option(None, help="android_arm64, linux_arm64 or linux_x86_64 [adb: "
                                           "android_arm64; ssh: the board's, asked with `uname -m`; host: "
                                           "this machine's]."),
    version: Optional[str] = typer.Option(None, help="LiteRT release [the installed ai-edge-litert's]."),
    force: bool = typer.Option(False, "--force", help="Download again (it must match the SHA-256 recorded "
                               "at the first download)."),
) -> None:
    """Download LiteRT's prebuilt benchmark_model for a target, verify it and cache it."""
    from edgecomp.targets.binaries import fetch_benchmark_model, host_binary_platform, user_binary
    from edgecomp.targets.profiles import apply_env_overrides, load_profile, make_target

    profile = apply_env_overrides(load_profile(name))
    if platform is not None:
        chosen = platform
    elif profile.kind == "adb":
        chosen = "android_arm64"
    elif profile.kind == "ssh":
        chosen = make_target(profile).binary_platform()
    else:
        chosen = host_binary_platform()
    configured = profile.adb.benchmark_model if profile.adb is not None else profile.benchmark_model
    if configured:  # the profile's own binary wins; nothing is downloaded
        binary = user_binary(configured, chosen)
    else:
        binary = fetch_benchmark_model(chosen, version, force=force)
    console = _console()
    console.print(f"[bold]{profile.name}[/bold]: benchmark_model {binary.version} for {binary.platform} "
                  f"({binary.source})", soft_wrap=True)
    for key_name in ("path", "sha256", "size", "url"):
        console.print(f"  {key_name:<8} {escape(_fact_text(getattr(binary, key_name)))}", soft_wrap=True)
