"""An emulated board over SSH: the SSH target plus what emulation changes about its numbers.

The board (scripts/make-arm64-pi.sh: Debian bookworm arm64 under QEMU user mode, reached through a
loopback sshd) runs the same runner as a real Pi. What differs:
- its facts say `emulated: true`, the architecture its Python sees and the emulator's version (the
  shell on the other side is this machine's, so `uname` and /proc describe the x86 host);
- every benchmarked artifact is also run on the host by the same runtime (ai-edge-litert, or
  tflite-runtime 2.14 from .venv-tflite-runtime) on the same images, so each row carries the host's
  accuracy beside the ARM one (`accuracy_vs_host_points`): the check that the ARM kernels compute
  what the x86 ones do;
- its latencies are marked emulated (see `edgecomp.core.emulation`).
"""

from __future__ import annotations

from pathlib import Path

from edgecomp.core.errors import TargetError
from edgecomp.core.records import HostCrossCheck
from edgecomp.exporters.tflite_runtime_check import runtime_python
from edgecomp.plan.plan import BenchConfig
from edgecomp.targets.base import BenchOutcome, last_json_line, last_line
from edgecomp.targets.host import HostTarget
from edgecomp.targets.ssh import SshTarget, remote_command

# Run with the board's Python: what it believes it runs on. The wrapper made by make-arm64-pi.sh sets
# EDGECOMP_EMULATOR to the emulator's version line.
EMULATION_FACTS = r"""
import json, os, platform, sys
print(json.dumps({"architecture": platform.machine(), "python_executable": sys.executable,
                  "sys_prefix": sys.prefix, "emulator": os.environ.get("EDGECOMP_EMULATOR") or None}))
"""

# Accuracy only on the host: the latency loop is reduced to a single run.
HOST_CROSS_CHECK = BenchConfig(threads=1, warmup=0, min_runs=1, min_time_s=0.0, max_runs=1)


class EmulatedSshTarget(SshTarget):
    """An SSH board whose Python runs under an emulator (profile `emulated: true`)."""

    emulated = True

    def check(self) -> dict:
        """The SSH facts, with the emulation facts on top (see the module docstring).

        Raises:
            TargetError: the board cannot be reached, or its Python cannot run.
        """
        facts = super().check()
        python = self.connection.python
        proc = self._ssh(remote_command([python, "-c", EMULATION_FACTS]), timeout=self._connect_timeout() + 120)
        if proc.returncode != 0:
            raise TargetError(f"{python!r} on {self.connection.describe()} failed: {last_line(proc.stderr)}. "
                              "Rebuild the emulated board with scripts/make-arm64-pi.sh.")
        emulation = last_json_line(proc.stdout, f"{python!r} on {self.connection.describe()}")
        host_cpu = facts.get("cpu")
        facts.update({
            "emulated": True,
            "architecture": emulation["architecture"],
            "emulator": emulation["emulator"],
            "python_executable": emulation["python_executable"],
            "sys_prefix": emulation["sys_prefix"],
            # The shell's uname and /proc are the emulating machine's, not the board's.
            "host_machine": facts.get("machine"),
            "machine": emulation["architecture"],
            "cpu": f"{emulation['architecture']} emulated on {host_cpu or 'this machine'}",
        })
        return facts

    def bench(self, artifacts: list[Path], sample: Path, settings: BenchConfig) -> list[BenchOutcome]:
        """The SSH benchmark, then each working artifact's accuracy on the host for comparison."""

        outcomes = super().bench(artifacts, sample, settings)
        host = HostTarget(**host_reference(self.runtime))
        for outcome in outcomes:
            outcome.emulated = True
            if not outcome.ok:
                continue
            reference = host.bench_file(Path(outcome.artifact), Path(sample), HOST_CROSS_CHECK)
            outcome.host_check = host_cross_check(outcome, reference)
        return outcomes

def host_reference(runtime: str) -> dict:
    """HostTarget settings that run the board's runtime on x86: {"python", "runtime"}.

    tflite-runtime 2.14 runs in its own environment here (scripts/make-tflite-runtime-env.sh); any
    other choice is the host's default runtime (ai-edge-litert, as `auto` picks on the board).
    """
    import sys

    if runtime == "tflite_runtime" and runtime_python() is not None:
        return {"python": str(runtime_python()), "runtime": "tflite_runtime"}
    return {"python": sys.executable, "runtime": "auto"}

def host_cross_check(board: BenchOutcome, host: BenchOutcome) -> HostCrossCheck:
    """The host's accuracy beside the board's.

    Args:
        board: The emulated board's outcome for one artifact (ok).
        host: The host runner's outcome for the same artifact and images.

    Returns:
        `accuracy_vs_host_points` is board minus host in percentage points; when the host could not
        run the file, `host_error` says why and the other fields are None.
    """
    if not host.ok:
        return HostCrossCheck(host_accuracy=None, host_runtime=None, accuracy_vs_host_points=None,
                              host_error=host.error)
    host_accuracy = host.result["accuracy"]
    board_accuracy = board.result["accuracy"]
    delta = None if host_accuracy is None or board_accuracy is None else 100 * (board_accuracy - host_accuracy)
    return HostCrossCheck(host_accuracy=host_accuracy, host_runtime=host.result["runtime"],
                          accuracy_vs_host_points=None if delta is None else round(delta, 4))

