"""Per-op profiles on the host and on SSH boards: LiteRT's benchmark_model run beside the Python runner.

The runner (LiteRT's Python interpreter) exposes no per-op timing, so where `bench.op_profile` is
on, each .tflite file is also run by benchmark_model with its op profiler, after the runner, on the
same device. The binary is the profile's `benchmark_model:` path, else LiteRT's prebuilt binary for
the device's platform (`binaries.fetch_benchmark_model`). Where neither is to be had, the
measurement stands and the row says why it has no op profile (`op_profile_error`).
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

from edgecomp.core.errors import TargetError
from edgecomp.plan.plan import BenchConfig
from edgecomp.targets.base import BenchOutcome, last_line
from edgecomp.targets.benchmark_model import benchmark_model_arguments
from edgecomp.targets.binaries import BenchmarkBinary, fetch_benchmark_model, user_binary
from edgecomp.targets.op_profile import parse_op_profile

OP_PROFILE_CSV = "op_profile.csv"


def profiling_binary(configured: Optional[str], platform: str) -> BenchmarkBinary:
    """The profile's benchmark_model if it names one, else LiteRT's prebuilt one (downloaded once).

    Raises:
        TargetError: the named file is missing, or the download is impossible (offline).
    """
    return user_binary(configured, platform) if configured else fetch_benchmark_model(platform)


def profile_from_run(returncode: int, output: str) -> dict:
    """benchmark_model's exit code and what it printed (its CSV file, else its log) -> the row's notes."""
    profile = parse_op_profile(output)
    if profile is not None and returncode == 0:
        return {"op_profile": profile}
    return {"op_profile_error": f"benchmark_model exited with code {returncode}: {last_line(output)}"
            if returncode != 0 else "benchmark_model printed no op profile"}


def profile_locally(binary: BenchmarkBinary, artifact: Path, settings: BenchConfig) -> dict:
    """Runs benchmark_model with its op profiler on this machine; {"op_profile"} or {"op_profile_error"}."""
    with tempfile.TemporaryDirectory(prefix="edgecomp-ops-") as folder:
        csv = Path(folder) / OP_PROFILE_CSV
        argv = benchmark_model_arguments(binary.path, str(Path(artifact).resolve()), settings, "xnnpack", str(csv))
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=settings.timeout_s + 60,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as err:
            return {"op_profile_error": f"benchmark_model {binary.path} could not run: {err}"}
        output = csv.read_text(errors="replace") if csv.is_file() else proc.stdout + "\n" + proc.stderr
        return profile_from_run(proc.returncode, output)


def add_op_profiles(outcomes: list[BenchOutcome], settings: BenchConfig, find_binary, profile_one) -> None:
    """Adds an op profile (or why there is none) to each measured .tflite outcome.

    Args:
        find_binary: () -> BenchmarkBinary, raising TargetError when there is none.
        profile_one: (binary, outcome) -> {"op_profile"} or {"op_profile_error"}.
    """
    wanted = [o for o in outcomes if settings.op_profile and o.ok and Path(o.artifact).suffix == ".tflite"]
    if not wanted:
        return
    try:
        binary = find_binary()
    except TargetError as err:
        for outcome in wanted:
            outcome.op_profile_error = str(err)
        return
    for outcome in wanted:
        profiled = profile_one(binary, outcome)
        outcome.op_profile, outcome.op_profile_error = profiled.get("op_profile"), profiled.get("op_profile_error")
        outcome.op_profile_binary = {"version": binary.version, "source": binary.source, "sha256": binary.sha256}


def remote_profile_script(remote_dir: str, remote_model: str, settings: BenchConfig) -> str:
    """The shell line that runs ./benchmark_model's op profiler in `remote_dir` on a board and prints its
    CSV file (or, if it wrote none or failed, its log); the exit code is benchmark_model's."""
    csv, log = f"{remote_model}.{OP_PROFILE_CSV}", f"{remote_model}.benchmark_model.log"
    argv = benchmark_model_arguments("./benchmark_model", remote_model, settings, "xnnpack", csv)
    quote = shlex.quote
    return (f"cd {quote(remote_dir)} || exit 97; chmod 755 benchmark_model; "
            f"{' '.join(quote(arg) for arg in argv)} >{quote(log)} 2>&1; rc=$?; "
            f"if [ $rc -eq 0 ] && [ -f {quote(csv)} ]; then cat {quote(csv)}; else cat {quote(log)}; fi; exit $rc")
