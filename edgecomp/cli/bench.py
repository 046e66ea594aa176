"""`edgecomp bench`: benchmark `.tflite` / `.onnx` files a user brings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from edgecomp.cli.common import (
    HOST_OPTION,
    KEY_OPTION,
    PORT_OPTION,
    SERIAL_OPTION,
    TARGET_OPTION,
    USER_OPTION,
    VERBOSE_OPTION,
    handle_errors,
    invoked_command,
    resolve_target,
)
from edgecomp.cli.report import (
    GATE_SCOPE_OPTION,
    MAX_LATENCY_OPTION,
    MAX_SIZE_OPTION,
    MIN_ACCURACY_OPTION,
    WIDE_OPTION,
    GateScope,
)
from edgecomp.report.gates import raise_for_gates, validate_gates


@handle_errors
def bench_command(
    artifacts: list[Path] = typer.Argument(..., help="One or more .tflite / .onnx files."),
    target: str = TARGET_OPTION,
    host: Optional[str] = HOST_OPTION,
    port: Optional[int] = PORT_OPTION,
    user: Optional[str] = USER_OPTION,
    key: Optional[str] = KEY_OPTION,
    serial: Optional[str] = SERIAL_OPTION,
    dataset: str = typer.Option("fashion_mnist", help="Dataset whose test images measure accuracy."),
    out: Path = typer.Option(Path("runs/bench"), help="Folder for report.json and report.md."),
    threads: Optional[int] = typer.Option(None, min=1, help="Interpreter threads (default: the target profile's)."),
    min_runs: int = typer.Option(200, min=1, help="Timed runs at least."),
    min_time: float = typer.Option(2.0, min=0, help="Seconds of timed runs at least."),
    accuracy_samples: Optional[int] = typer.Option(None, min=1, help="Test images for accuracy [all]."),
    op_profile: bool = typer.Option(False, "--op-profile", help="Per-op times from benchmark_model's op "
                                    "profiler (adb targets); the report gets a per-op table per file."),
    as_json: bool = typer.Option(False, "--json", help="Print report.json to stdout."),
    max_size_mb: Optional[float] = MAX_SIZE_OPTION,
    max_latency_ms: Optional[float] = MAX_LATENCY_OPTION,
    min_accuracy: Optional[float] = MIN_ACCURACY_OPTION,
    gate_scope: GateScope = GATE_SCOPE_OPTION,
    verbose: bool = VERBOSE_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Measure latency, memory, size and accuracy of existing model files on a target."""
    from edgecomp.core.verbosity import set_verbose

    set_verbose(verbose)
    from edgecomp.plan.plan import BenchConfig
    from edgecomp.report.summary import print_summary
    from edgecomp.run.existing_files import run_bench
    from edgecomp.run.pipeline import raise_for_failed_artifacts

    device = resolve_target(target, host=host, port=port, user=user, key=key, serial=serial)
    settings = BenchConfig(threads=threads or device.profile.threads, min_runs=min_runs, min_time_s=min_time,
                           accuracy_samples=accuracy_samples, op_profile=op_profile)
    gates = {"max_size_mb": max_size_mb, "max_latency_ms": max_latency_ms, "min_accuracy": min_accuracy}
    validate_gates(**gates)
    report = run_bench(artifacts, dataset, device, settings, out, command=invoked_command(),
                       gates={**gates, "scope": gate_scope.value})
    if as_json:
        typer.echo(json.dumps(report))
    else:
        print_summary(report, wide=wide)
    raise_for_failed_artifacts(report)  # exit 1 before a gate's exit 3: a failure is not a quality verdict
    raise_for_gates(report, scope=gate_scope.value, **gates)
