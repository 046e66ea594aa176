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
from edgecomp.core.errors import UsageError
from edgecomp.report.gates import raise_for_gates, validate_gates


@handle_errors
def bench_command(
    artifacts: list[Path] = typer.Argument(..., help="One or more .tflite / .onnx files."),
    target: list[str] = typer.Option(["host"], help="Target profile name (see `edgecomp targets list`) or YAML "
                                     "path; repeat it to measure every file on each target, one report."),
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

    if len(target) > 1:
        if any(v is not None for v in (max_size_mb, max_latency_ms, min_accuracy)):
            raise UsageError("quality gates apply to one target; with several --target, run the gates per target.")
        return _bench_on_targets(artifacts, target, dataset, out, threads, min_runs, min_time, accuracy_samples,
                                 op_profile, dict(host=host, port=port, user=user, key=key, serial=serial))
    device = resolve_target(target[0], host=host, port=port, user=user, key=key, serial=serial)
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


def _bench_on_targets(artifacts, targets, dataset, out, threads, min_runs, min_time, accuracy_samples, op_profile,
                      overrides) -> None:
    """Several --target: every file on each target in turn; OUT/report.md has a column group per device."""
    from rich.console import Console

    from edgecomp.plan.plan import BenchConfig
    from edgecomp.report.multi_target import LEGEND, multi_target_table
    from edgecomp.report.terminal import rich_table
    from edgecomp.run.multi_target import raise_for_failed_targets, run_bench_on_targets

    # every profile is loaded before any work: a typo is a usage error, not a failed column
    devices = [resolve_target(name, **overrides) for name in targets]

    def settings_for(device) -> BenchConfig:
        return BenchConfig(threads=threads or device.profile.threads, min_runs=min_runs, min_time_s=min_time,
                           accuracy_samples=accuracy_samples, op_profile=op_profile)

    combined = run_bench_on_targets(artifacts, dataset, devices, settings_for, out, command=invoked_command())
    console = Console(highlight=False)
    console.print(rich_table(multi_target_table(combined), f"edgecomp: bench on {len(devices)} targets"))
    console.print(LEGEND, soft_wrap=True)
    console.print(f"reports: {out}/report.json, report.md (each target's own in its folder)")
    raise_for_failed_targets(combined, out)
