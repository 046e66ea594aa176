"""LiteRT's `benchmark_model` command line, the same on a phone (adb), a board (ssh) and the host."""

from __future__ import annotations

from typing import Optional

from edgecomp.plan.plan import BenchConfig

DELEGATE_FLAGS = {"xnnpack": ["--use_xnnpack=true"], "gpu": ["--use_gpu=true"], "nnapi": ["--use_nnapi=true"],
                  "none": ["--use_xnnpack=false"]}


def benchmark_model_arguments(binary: str, graph: str, settings: BenchConfig, delegate: str,
                              op_profile_file: Optional[str] = None) -> list[str]:
    """The benchmark_model command line on the device (paths as the device sees them).

    With `op_profile_file`, the op profiler writes its tables there as CSV; a version without the CSV
    mode ignores those two flags and prints text tables in its log, which are read instead.
    """
    profiling = ["--enable_op_profiling=true", "--op_profiling_output_mode=csv",
                 f"--op_profiling_output_file={op_profile_file}"] if op_profile_file else []
    return [binary, f"--graph={graph}", f"--num_threads={settings.threads}", *DELEGATE_FLAGS[delegate],
            f"--warmup_runs={settings.warmup}", f"--num_runs={settings.min_runs}",
            f"--min_secs={settings.min_time_s}", f"--max_secs={settings.timeout_s}",
            "--report_peak_memory_footprint=true", *profiling]
