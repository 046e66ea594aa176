"""`edgecomp bench`: benchmark `.tflite` / `.onnx` files a user brings. Parses, calls `edgecomp.benchmark`
(edgecomp.api.bench), prints the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from edgecomp.cli.common import (
    TARGET_OPTION,
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
    target: str = TARGET_OPTION,
    connection: dict = None,  # --host, --port, --user, --key, --serial (edgecomp.cli.common)
    dataset: str = typer.Option("fashion_mnist", help="Dataset whose test images measure accuracy."),
    out: Path = typer.Option(Path("runs/bench"), help="Folder for report.json and report.md."),
    threads: Optional[int] = typer.Option(None, min=1, help="Interpreter threads (default: the target profile's)."),
    min_runs: int = typer.Option(200, min=1, help="Timed runs at least."),
    min_time: float = typer.Option(2.0, min=0, help="Seconds of timed runs at least."),
    accuracy_samples: Optional[int] = typer.Option(None, min=1, help="Test images for accuracy [all]."),
    as_json: bool = typer.Option(False, "--json", help="Print report.json to stdout."),
    gates: dict = None,  # --max-size-mb, --max-latency-ms, --min-accuracy, --gate-scope (edgecomp.cli.common)
    verbose: bool = VERBOSE_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Measure latency, memory, size and accuracy of existing model files on a target."""
    from edgecomp.core.verbosity import set_verbose

    set_verbose(verbose)
    from edgecomp.api.bench import benchmark
    from edgecomp.report.summary import print_summary

    result = benchmark(artifacts, target=target, data=dataset, out=out, threads=threads, min_runs=min_runs,
                       min_time_s=min_time, accuracy_samples=accuracy_samples, connection=connection,
                       verbose=verbose, command=invoked_command(), **gates)
    if as_json:
        typer.echo(json.dumps(result.report))
    else:
        print_summary(result.report, wide=wide)
    result.raise_for_status()
