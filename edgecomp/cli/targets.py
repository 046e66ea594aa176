"""`edgecomp targets list | check NAME`: the device profiles, and a doctor for one device."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from edgecomp.cli.common import handle_errors
from edgecomp.errors import TargetError

app = typer.Typer(help="Device profiles (targets/*.yaml): list them, check that one is ready.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)


def _console() -> Console:
    """Made per command, so COLUMNS and redirections at call time are respected."""
    return Console(highlight=False)


@app.command("list")
@handle_errors
def list_command() -> None:
    """List the known device profiles and where they are looked up."""
    from edgecomp.adapters.profiles import available_profiles, load_profile, profile_dirs

    console = _console()
    table = Table(title="Target profiles")
    for column in ("name", "kind", "connection", "runtime", "threads", "delegate", "recommended"):
        table.add_column(column, no_wrap=column == "name")
    for name, path in available_profiles().items():
        profile = load_profile(str(path))
        table.add_row(name, profile.kind, profile.connection_summary(), profile.runtime, str(profile.threads),
                      profile.delegate, f"{profile.recommended_compression} {profile.recommended_format}")
    console.print(table)
    console.print("searched: " + ", ".join(str(d) for d in profile_dirs()))


LOAD_TIMEOUT_S = 300


def _host_artifact_loads(target, artifacts: List[Path]) -> dict:
    """Loads each artifact with the runner's own loader in a subprocess of the host's Python."""
    from edgecomp.adapters.base import RUNNER_PATH, load_check_result
    from edgecomp.adapters.ssh import LOAD_CHECK, runtime_for

    loads = {}
    for artifact in artifacts:
        try:
            proc = subprocess.run([target.python, "-c", LOAD_CHECK, str(artifact.resolve()),
                                   runtime_for(artifact, target.runtime)],
                                  capture_output=True, text=True, cwd=RUNNER_PATH.parent, timeout=LOAD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            loads[artifact.name] = {"ok": False, "error": f"loading did not finish within {LOAD_TIMEOUT_S} s"}
            continue
        loads[artifact.name] = load_check_result(proc.returncode, proc.stdout, proc.stderr)
    return loads


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
    from edgecomp.adapters.profiles import resolve_target

    for path in artifact:
        if not path.is_file():
            raise TargetError(f"artifact {path} does not exist.")
    target = resolve_target(name, host=host, user=user, port=port, key=key, serial=serial)
    if target.kind == "ssh":
        facts = target.check(artifacts=artifact)
    else:
        facts = target.check()
        if artifact and target.kind == "host":
            facts["artifacts"] = _host_artifact_loads(target, artifact)
        elif artifact:
            facts["artifacts"] = {a.name: {"ok": None, "error": "not tried: benchmark_model loads the file when "
                                                                "`edgecomp bench` runs"} for a in artifact}
    loads = facts.pop("artifacts", {})
    console = _console()
    console.print(f"[bold]{target.name}[/bold] ({target.kind}) is reachable")
    for key_name, value in facts.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v if v else '-'}" for k, v in value.items())
        console.print(f"  {key_name:<16} {value if value not in (None, '') else '-'}")
    runtimes = facts.get("runtimes") or {}
    if target.kind == "ssh" and not any(runtimes.get(r) for r in ("ai_edge_litert", "tflite_runtime", "tensorflow")):
        console.print("  [yellow]no TFLite runtime imports on the device[/yellow]: pip install ai-edge-litert "
                      "(or tflite-runtime) for its python")
    failed = []
    for artifact_name, load in loads.items():
        if load["ok"]:
            console.print(f"  [green]loads[/green]   {artifact_name} ({load['runtime']} {load['runtime_version']}, "
                          f"input {load['io']['input_dtype']} {load['io']['input_shape']}, "
                          f"init {load['init_ms']:.1f} ms)")
        elif load["ok"] is None:
            console.print(f"  [yellow]skipped[/yellow] {artifact_name}: {load['error']}")
        else:
            failed.append(artifact_name)
            console.print(f"  [red]fails[/red]   {artifact_name}: {load['error']}")
    if failed:
        raise TargetError(f"{len(failed)} artifact(s) do not load on {target.name}: {', '.join(failed)}")
