"""The host target: the runner in a subprocess of this machine's Python, one per artifact.

A subprocess per artifact keeps each peak-memory figure separate and turns a runtime crash on a
bad file into an error message instead of a dead CLI.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from edgecomp.core.verbosity import is_verbose, runner_environment
from edgecomp.plan.plan import BenchConfig
from edgecomp.targets.base import (
    LOAD_CHECK,
    RUNNER_PATH,
    BenchOutcome,
    LoadCheck,
    LoadStatus,
    Target,
    last_line,
    load_check_result,
    runner_arguments,
    runtime_for,
)
from edgecomp.targets.binaries import host_binary_platform
from edgecomp.targets.cpu_features import cpuinfo_flags, relevant_cpu_features
from edgecomp.targets.op_profiling import add_op_profiles, profile_locally, profiling_binary

LOAD_TIMEOUT_S = 300.0  # a model that takes longer than this to load will not be benchmarked either


def host_facts() -> dict:
    """CPU model, kernel-relevant CPU features, cores and OS of this machine, for the report."""
    cpu, cpuinfo = platform.processor() or platform.machine(), ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"kind": "host", "cpu": cpu, "cpu_features": relevant_cpu_features(cpuinfo_flags(cpuinfo)),
            "cores": os.cpu_count(), "machine": platform.machine(), "os": platform.platform(),
            "python": platform.python_version()}


class HostTarget(Target):
    kind = "host"

    def __init__(self, runtime: str = "auto", python: str = sys.executable, profile=None,
                 load_timeout_s: float = LOAD_TIMEOUT_S):
        """Args: runtime: TFLite runtime preference; python: interpreter that runs the runner;
        profile: the `TargetProfile` this target came from (None for a bare host target);
        load_timeout_s: how long one artifact may take to load in `check_loads`."""
        self.runtime = runtime
        self.python = python
        self.profile = profile
        self.load_timeout_s = load_timeout_s
        self.name = profile.name if profile is not None else "host"

    def check(self) -> dict:
        return host_facts()

    def check_loads(self, artifacts: Sequence[Path]) -> list[LoadCheck]:
        """Loads each artifact with the runner's own loader, in a subprocess of the target's Python."""
        checks = []
        for artifact in map(Path, artifacts):
            command = [self.python, "-c", LOAD_CHECK, str(artifact.resolve()), runtime_for(artifact, self.runtime)]
            try:
                proc = subprocess.run(command, capture_output=True, text=True, cwd=RUNNER_PATH.parent,
                                      timeout=self.load_timeout_s)
            except subprocess.TimeoutExpired:
                checks.append(LoadCheck(artifact.name, LoadStatus.FAILS,
                                        f"loading did not finish within {self.load_timeout_s:g} s"))
                continue
            checks.append(load_check_result(artifact, proc.returncode, proc.stdout, proc.stderr))
        return checks

    def bench(self, artifacts: list[Path], sample: Path, settings: BenchConfig) -> list[BenchOutcome]:
        """The runner on each file; with `settings.op_profile`, benchmark_model's op profile of each .tflite."""
        outcomes = []
        for _, artifact in self.announced(artifacts):
            outcomes.append(self.bench_file(artifact, sample, settings))
        configured = self.profile.benchmark_model if self.profile is not None else None
        add_op_profiles(outcomes, settings, lambda: profiling_binary(configured, host_binary_platform()),
                        lambda binary, outcome: profile_locally(binary, outcome.artifact, settings))
        return outcomes

    def bench_file(self, artifact: Path, sample: Path, settings: BenchConfig) -> BenchOutcome:
        """Runs the runner on one file (no progress line): what `bench` does per file, and what the
        emulated target cross-checks its results with."""
        with tempfile.TemporaryDirectory(prefix="edgecomp-bench-") as tmp:
            out = Path(tmp) / "result.json"
            command = [self.python, str(RUNNER_PATH)] + runner_arguments(
                str(artifact), str(sample), str(out), settings, self.runtime)
            try:
                proc = subprocess.run(command, capture_output=True, text=True, timeout=settings.timeout_s,
                                      env=runner_environment())
            except subprocess.TimeoutExpired:
                return BenchOutcome(artifact, error=f"runner did not finish within {settings.timeout_s:.0f} s")
            if is_verbose() and proc.stderr.strip():
                sys.stderr.write(proc.stderr)
            if proc.returncode != 0 or not out.exists():
                return BenchOutcome(artifact, error=f"runner exited with code {proc.returncode}: "
                                                    f"{last_line(proc.stderr or proc.stdout)}")
            return self.parse_result(out.read_text(), artifact)
