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

from edgecomp.adapters.base import RUNNER_PATH, BenchOutcome, Target, last_line, runner_arguments
from edgecomp.config import BenchConfig


def host_facts() -> dict:
    """CPU model, cores and OS of this machine, for the report."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"kind": "host", "cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(),
            "os": platform.platform(), "python": platform.python_version()}


class HostTarget(Target):
    kind = "host"

    def __init__(self, runtime: str = "auto", python: str = sys.executable, profile=None):
        """Args: runtime: TFLite runtime preference; python: interpreter that runs the runner;
        profile: the `TargetProfile` this target came from (None for a bare host target)."""
        self.runtime = runtime
        self.python = python
        self.profile = profile
        self.name = profile.name if profile is not None else "host"

    def check(self) -> dict:
        return host_facts()

    def bench(self, artifacts: list[Path], sample: Path, settings: BenchConfig) -> list[BenchOutcome]:
        outcomes = []
        for index, artifact in enumerate(artifacts):
            self.announce(index, len(artifacts), artifact)
            outcomes.append(self._bench_one(Path(artifact), sample, settings))
        return outcomes

    def _bench_one(self, artifact: Path, sample: Path, settings: BenchConfig) -> BenchOutcome:
        with tempfile.TemporaryDirectory(prefix="edgecomp-bench-") as tmp:
            out = Path(tmp) / "result.json"
            command = [self.python, str(RUNNER_PATH)] + runner_arguments(
                str(artifact), str(sample), str(out), settings, self.runtime)
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
            try:
                proc = subprocess.run(command, capture_output=True, text=True, timeout=settings.timeout_s, env=env)
            except subprocess.TimeoutExpired:
                return BenchOutcome(artifact, error=f"runner did not finish within {settings.timeout_s:.0f} s")
            if proc.returncode != 0 or not out.exists():
                return BenchOutcome(artifact, error=f"runner exited with code {proc.returncode}: "
                                                    f"{last_line(proc.stderr or proc.stdout)}")
            return self.parse_result(out.read_text(), artifact)
