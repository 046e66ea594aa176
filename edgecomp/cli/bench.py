"""`edgecomp bench`: benchmark `.tflite` / `.onnx` files a user brings. Parses, calls `edgecomp.bench`
(edgecomp.api.bench), prints the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from edgecomp.cli.common import (
    VERBOSE_OPTION,
    WIDE_OPTION,
    handle_errors,
    invoked_command,
    shared_options,
)


@handle_errors
@shared_options
def bench_command(
    artifacts: list[Path] = typer.Argument(..., help="One or more .tflite / .onnx files."),
    target: list[str] = typer.Option(["host"], help="Target profile name (see `edgecomp targets list`) or YAML "
                                     "path; repeat it to measure every file on each target, one report."),
    connection: dict = None,  # --host, --port, --user, --key, --serial (edgecomp.cli.common)
    dataset: str = typer.Option("fashion_mnist", help="Dataset whose test images measure accuracy."),
    out: Path = typer.Option(Path("runs/bench"), help="Folder for report.json and report.md."),
    threads: Optional[int] = typer.Option(None, min=1, help="Interpreter threads (default: the target profile's)."),
    min_runs: int = typer.Option(200, min=1, help="Timed runs at least."),
    min_time: float = typer.Option(2.0, min=0, help="Seconds of timed runs at least."),
    accuracy_samples: Optional[int] = typer.Option(None, min=1, help="Test images for accuracy [all]."),
    op_profile: bool = typer.Option(False, "--op-profile", help="Per-op times from benchmark_model's op "
                                    "profiler (adb targets); the report gets a per-op table per file."),
    as_json: bool = typer.Option(False, "--json", help="Print report.json to stdout."),
    gates: dict = None,  # --max-size-mb, --max-latency-ms, --min-accuracy, --gate-scope (edgecomp.cli.common)
    verbose: bool = VERBOSE_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Measure latency, memory, size and accuracy of existing model files on a target."""
    from edgecomp.core.verbosity import set_verbose

    set_verbose(verbose)
    from edgecomp.api.bench import bench
    from edgecomp.reporting.summary import print_summary

    if len(target) > 1:
        return _bench_on_targets(artifacts, target, dataset, out, threads, min_runs, min_time, accuracy_samples,
                                 op_profile, connection, gates)
    result = bench(artifacts, target=target[0], data=dataset, out=out, threads=threads, min_runs=min_runs,
                       min_time_s=min_time, accuracy_samples=accuracy_samples, connection=connection,
                       op_profile=op_profile, verbose=verbose, command=invoked_command(), **gates)
    if as_json:
        typer.echo(json.dumps(result.report))
    else:
        print_summary(result.report, wide=wide)
    result.raise_for_status()


def _bench_on_targets(artifacts, targets, dataset, out, threads, min_runs, min_time, accuracy_samples, op_profile,
                      connection, gates) -> None:
    """Several --target: every file on each target in turn; OUT/report.md has a column group per device."""
    from edgecomp.api.bench import bench_on_targets
    from edgecomp.reporting.summary import print_multi_target_summary
    from edgecomp.run.multi_target import raise_for_failed_targets, raise_for_missed_gates

    combined = bench_on_targets(artifacts, targets, data=dataset, out=out, threads=threads, min_runs=min_runs,
                                min_time_s=min_time, accuracy_samples=accuracy_samples, connection=connection,
                                op_profile=op_profile, command=invoked_command(), **gates)
    print_multi_target_summary(combined)
    raise_for_failed_targets(combined, out)
    raise_for_missed_gates(combined)
