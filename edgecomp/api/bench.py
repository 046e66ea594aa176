"""`edgecomp.bench`: measure `.tflite` / `.onnx` files you bring. `edgecomp bench` parses and calls this."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

from edgecomp.api.device import resolve_device, resolve_devices
from edgecomp.api.inputs import dataset_reference
from edgecomp.api.results import BenchResult
from edgecomp.core.verbosity import set_verbose
from edgecomp.reporting.gates import Gates


def bench(files: Union[str, Path, Sequence[Union[str, Path]]], *, target: str = "host",
              data="fashion_mnist", out: Union[str, Path] = "runs/bench", threads: Optional[int] = None,
              min_runs: int = 200, min_time_s: float = 2.0, accuracy_samples: Optional[int] = None,
              normalization=None, class_names: Optional[Sequence[str]] = None,
              max_size_mb: Optional[float] = None, max_latency_ms: Optional[float] = None,
              min_accuracy: Optional[float] = None, gate_scope: str = "every", connection: Optional[dict] = None,
              op_profile: bool = False, verbose: bool = False, command: Optional[str] = None) -> BenchResult:
    """Measure latency, memory, size and accuracy of existing model files on a target.

    The same code as `edgecomp bench FILE...`. A bar with the time left runs over the files while they
    are measured (rich in a terminal, a widget in Jupyter; see `edgecomp.build`).

    Args:
        files: one `.tflite` / `.onnx` path or several.
        target: a target profile name ("host", "rpi4", ...) or a YAML path.
        data: the test images that measure accuracy: a dataset name, a `.npz`, an image folder, or
            (x_train, y_train, x_test, y_test) arrays (see `edgecomp.build`).
        out: the folder for report.json, report.md and report.html.
        threads: interpreter threads [the target profile's]. min_runs: timed runs at least.
        min_time_s: seconds of timed runs at least. accuracy_samples: test images for accuracy [all].
        normalization: how float arrays were made from pixels (see `edgecomp.build`).
        class_names: names of the classes, for arrays.
        max_size_mb, max_latency_ms, min_accuracy, gate_scope: quality gates, as in `edgecomp.build`
            (`min_accuracy` in percent).
        connection: SSH / adb settings over the profile's: {"host", "port", "user", "key", "serial"}.
        op_profile: per-op times from LiteRT's benchmark_model op profiler (adb targets; SSH boards and the
            host where the binary is available); the report gets a per-op table per file.
        verbose: let the runtimes' logging through. command: what the report records as the command.

    Returns:
        A `BenchResult` (a `BuildResult` without stages); `raise_for_status()` raises what the command
        exits with.

    Raises:
        ModelLoadError: a missing file, or one that is not .tflite / .onnx. UsageError: a bad setting.

    Examples:
        >>> import edgecomp
        >>> edgecomp.bench("missing.tflite", min_runs=10)
        Traceback (most recent call last):
        ...
        edgecomp.core.errors.ModelLoadError: artifact missing.tflite does not exist.
    """
    from edgecomp.plan.plan import BenchConfig
    from edgecomp.run.existing_files import describe_file, run_bench

    set_verbose(verbose)
    gates = Gates(max_size_mb, max_latency_ms, min_accuracy, gate_scope)
    paths = [Path(files)] if isinstance(files, (str, Path)) else [Path(f) for f in files]
    for path in paths:
        describe_file(path)  # a missing or unknown file fails before the device is contacted
    device = resolve_device(target, connection)
    settings = BenchConfig(threads=threads or device.profile.threads, min_runs=min_runs, min_time_s=min_time_s,
                           accuracy_samples=accuracy_samples, op_profile=op_profile)
    out = Path(out)
    dataset = dataset_reference(data, out, normalization, class_names)
    report = run_bench(paths, dataset, device, settings, out, command=command or "edgecomp.bench() from Python",
                       gates=gates.record())
    return BenchResult.from_report(report)


def bench_on_targets(files: Union[str, Path, Sequence[Union[str, Path]]], targets: Sequence[str], *,
                         data="fashion_mnist", out: Union[str, Path] = "runs/bench", threads: Optional[int] = None,
                         min_runs: int = 200, min_time_s: float = 2.0, accuracy_samples: Optional[int] = None,
                         max_size_mb: Optional[float] = None, max_latency_ms: Optional[float] = None,
                         min_accuracy: Optional[float] = None, gate_scope: str = "every",
                         connection: Optional[dict] = None, op_profile: bool = False,
                         command: Optional[str] = None) -> dict:
    """Every file on each target in turn (`edgecomp bench FILES --target a --target b`): each target's
    report in OUT/<target>/, and OUT/report.json / report.md with a column group per device.

    A target that fails (unreachable, no runtime) is a failed column; the others go on. Every profile is
    loaded before any work, so a typo is a usage error rather than a failed column.

    Args:
        files: one `.tflite` / `.onnx` path or several.
        targets: target profile names or YAML paths, measured one after the other.
        data, out, threads, min_runs, min_time_s, accuracy_samples, connection, op_profile, command: as in
            `edgecomp.bench`; `threads` defaults to each target profile's own.
        max_size_mb, max_latency_ms, min_accuracy, gate_scope: quality gates, as in `edgecomp.bench`, checked
            on every target (scope "any": one file meeting them all on every target).

    Returns:
        The combined report (`edgecomp.run.multi_target`), with `recommended`, the file to ship on every
        target (the ★ rule on each file's worst case over the targets); `raise_for_failed_targets`, then
        `raise_for_missed_gates` (`edgecomp.run.multi_target`) raise what the command exits with.

    Examples:
        >>> import edgecomp
        >>> edgecomp.bench_on_targets("missing.tflite", ["host", "host"], min_runs=10)
        Traceback (most recent call last):
        ...
        edgecomp.core.errors.ModelLoadError: artifact missing.tflite does not exist.
    """
    from edgecomp.plan.plan import BenchConfig
    from edgecomp.run.existing_files import describe_file
    from edgecomp.run.multi_target import run_bench_on_targets

    gates = Gates(max_size_mb, max_latency_ms, min_accuracy, gate_scope)
    paths = [Path(files)] if isinstance(files, (str, Path)) else [Path(f) for f in files]
    for path in paths:
        describe_file(path)
    devices = resolve_devices(targets, connection)  # every profile loaded first; a target given twice refused
    out = Path(out)

    def settings_for(device) -> BenchConfig:
        return BenchConfig(threads=threads or device.profile.threads, min_runs=min_runs, min_time_s=min_time_s,
                           accuracy_samples=accuracy_samples, op_profile=op_profile)

    return run_bench_on_targets(paths, dataset_reference(data, out, None, None), devices, settings_for, out,
                                command=command or "edgecomp.bench_on_targets() from Python", gates=gates.record())
