"""The SSH target: the runner on a Linux board (Raspberry Pi) through the system OpenSSH client.

Every ssh/scp call is an argument list; the one string the remote shell parses is built from
`shlex.quote`d pieces. Host keys are checked (`StrictHostKeyChecking=yes`, or `accept-new` when
the profile says so, never `no`). Each bench works in a fresh `mktemp -d` folder that is always
removed, and a dropped connection (ssh exit 255) is retried once before it becomes a TargetError.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from edgecomp.core.errors import TargetError
from edgecomp.plan.plan import BenchConfig
from edgecomp.targets.base import (
    LOAD_CHECK,
    RUNNER_PATH,
    BenchOutcome,
    LoadCheck,
    Target,
    last_json_line,
    last_line,
    load_check_result,
    runner_arguments,
    runtime_for,
)
from edgecomp.targets.binaries import BenchmarkBinary, platform_for_machine
from edgecomp.targets.cpu_features import relevant_cpu_features
from edgecomp.targets.op_profiling import add_op_profiles, profile_from_run, profiling_binary, remote_profile_script

SSH_CONNECTION_FAILED = 255  # OpenSSH's exit status for its own errors (unreachable, auth, host key)
TIMEOUT_EXIT = 124  # coreutils/busybox `timeout` when the limit is hit
THERMAL = "/sys/class/thermal/thermal_zone0/temp"

# Device facts as key=value lines; a constant script, nothing local is interpolated into it.
FACTS_SCRIPT = r"""
printf 'model=%s\n' "$(tr -d '\000' < /proc/device-tree/model 2>/dev/null)"
cpu=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
[ -n "$cpu" ] || cpu=$(sed -n 's/^\(model name\|Hardware\|Model\)[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
printf 'cpu=%s\n' "$cpu"
printf 'cpu_flags=%s\n' "$(sed -n 's/^\(flags\|Features\)[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)"
printf 'cores=%s\n' "$(getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c ^processor /proc/cpuinfo)"
printf 'machine=%s\n' "$(uname -m)"
printf 'kernel=%s\n' "$(uname -sr)"
printf 'governor=%s\n' "$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null)"
printf 'temperature_mc=%s\n' "$(cat /sys/class/thermal/thermal_zone0/temp 2>/dev/null)"
printf 'mem_total_kb=%s\n' "$(sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\).*/\1/p' /proc/meminfo)"
if command -v vcgencmd >/dev/null 2>&1; then printf 'throttled=%s\n' "$(vcgencmd get_throttled 2>/dev/null)"; fi
printf 'has_timeout=%s\n' "$(command -v timeout >/dev/null 2>&1 && echo yes || echo no)"
"""

# Run with the device's Python: versions, and which runtimes import. TensorFlow is only looked
# up, not imported: importing it takes tens of seconds on a Pi.
PYTHON_FACTS = r"""
import importlib, json, platform
facts = {"python": platform.python_version(), "runtimes": {}}
try:
    import numpy
    facts["numpy"] = numpy.__version__
except Exception as err:
    facts["numpy"] = None
    facts["numpy_error"] = str(err)[:200]
for name, module in (("ai_edge_litert", "ai_edge_litert.interpreter"), ("tflite_runtime", "tflite_runtime.interpreter"),
                     ("onnxruntime", "onnxruntime")):
    try:
        importlib.import_module(module)
        top = importlib.import_module(name)
        facts["runtimes"][name] = getattr(top, "__version__", "unknown")
    except Exception as err:
        facts["runtimes"][name] = None
        facts.setdefault("runtime_errors", {})[name] = str(err)[:200]
try:
    import importlib.util
    if importlib.util.find_spec("tensorflow") is not None:
        from importlib import metadata
        facts["runtimes"]["tensorflow"] = metadata.version("tensorflow")
    else:
        facts["runtimes"]["tensorflow"] = None
except Exception as err:
    facts["runtimes"]["tensorflow"] = None
    facts.setdefault("runtime_errors", {})["tensorflow"] = str(err)[:200]
print(json.dumps(facts))
"""


def remote_command(argv: Sequence[str]) -> str:
    """One shell-safe command line for the remote shell."""
    return " ".join(shlex.quote(str(arg)) for arg in argv)


class SshTarget(Target):
    """A Linux device reached with `ssh`/`scp`.

    Args:
        connection: an `SshConnection` (host, user, port, key, known_hosts...).
        runtime: the runner's --runtime for .tflite files.
        name: the profile name, for reports.
    """

    kind = "ssh"
    _copy_method = 0  # index into _scp's methods: the first one worked on this device so far

    def __init__(self, connection, runtime: str = "auto", name: str = "ssh", profile=None):
        self.connection = connection
        self.runtime = runtime
        self.name = name
        self.profile = profile

    @classmethod
    def from_profile(cls, profile) -> SshTarget:
        return cls(profile.ssh, runtime=profile.runtime, name=profile.name, profile=profile)

    # ----------------------------------------------------------------- plumbing
    def _options(self) -> list[str]:
        conn = self.connection
        known_hosts = Path(conn.known_hosts or "~/.ssh/known_hosts").expanduser()
        options = ["-o", "BatchMode=yes",
                   "-o", f"StrictHostKeyChecking={'accept-new' if conn.accept_new_host_key else 'yes'}",
                   "-o", f"UserKnownHostsFile={known_hosts}",
                   "-o", f"ConnectTimeout={conn.connect_timeout_s}",
                   "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                   "-o", "LogLevel=ERROR"]
        if conn.key_file:
            options += ["-i", str(Path(conn.key_file).expanduser()), "-o", "IdentitiesOnly=yes"]
        return options

    def _explain(self, stderr: str) -> str:
        """ssh's own failure (exit 255) -> what happened and what to do."""
        where = self.connection.describe()
        conn = self.connection
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
            return (f"the host key of {where} has CHANGED since it was recorded in "
                    f"{conn.known_hosts or '~/.ssh/known_hosts'}. If the device was reinstalled, remove the old "
                    f"key with `ssh-keygen -R {conn.host}` and connect once; otherwise do not connect.")
        if "Host key verification failed" in stderr or "No " in stderr and "host key is known" in stderr:
            keyscan = f"ssh-keyscan -p {conn.port} {conn.host} >> {conn.known_hosts or '~/.ssh/known_hosts'}"
            return (f"the host key of {where} is not in {conn.known_hosts or '~/.ssh/known_hosts'}. Connect once "
                    f"with `ssh -p {conn.port} {conn.destination}` and check the fingerprint, or run `{keyscan}`, "
                    "or set `accept_new_host_key: true` in the profile to trust it on first use.")
        if "Permission denied" in stderr:
            return (f"{where} refused the login ({last_line(stderr)}). Install your public key with "
                    f"`ssh-copy-id -p {conn.port} {conn.destination}` or set key_file in the profile / --key.")
        return (f"cannot reach {where}: {last_line(stderr)}. Check the host, port and that sshd runs on the "
                "device (a wrong port says 'Connection refused', a wrong address times out).")

    def _ssh(self, command: str, timeout: float, check_connection: bool = True,
             input_bytes: Optional[bytes] = None) -> subprocess.CompletedProcess:
        """Runs `command` (already quoted) in the remote shell; exit 255 is retried once, then raised."""
        argv = ["ssh", *self._options(), "-p", str(self.connection.port), self.connection.destination, command]
        for attempt in (1, 2):
            try:
                proc = subprocess.run(argv, capture_output=True, timeout=timeout, input=input_bytes)
            except subprocess.TimeoutExpired:
                raise TargetError(f"ssh to {self.connection.describe()} did not answer within {timeout:.0f} s "
                                  "(the command is still running there or the link stalled).") from None
            stderr = proc.stderr.decode(errors="replace")
            if proc.returncode != SSH_CONNECTION_FAILED or not check_connection:
                return subprocess.CompletedProcess(argv, proc.returncode, proc.stdout.decode(errors="replace"),
                                                   stderr)
            if "Host key" in stderr or "host key" in stderr or "Permission denied" in stderr or attempt == 2:
                raise TargetError(self._explain(stderr))
        raise AssertionError("unreachable")

    def _scp(self, files: Sequence[Path], remote_dir: str, timeout: float) -> None:
        """Copies `files` into `remote_dir`: scp (SFTP), else legacy scp, else a tar stream over ssh.

        OpenSSH's scp speaks SFTP by default, and a board whose sshd has no SFTP subsystem (minimal
        images, dropbear) closes the connection, which looks like an unreachable host. The legacy
        protocol (`scp -O`) and `tar` over ssh need no SFTP server. The method that worked is kept
        for this target's later copies.

        Raises:
            TargetError: ssh itself failed (host, port, key: see `_explain`), or every method failed on
                a reachable host (the message gives each method's reason).
        """
        methods = [("scp (SFTP)", lambda: self._copy_scp(files, remote_dir, timeout, legacy=False)),
                   ("scp -O (legacy protocol)", lambda: self._copy_scp(files, remote_dir, timeout, legacy=True)),
                   ("tar over ssh", lambda: self._copy_tar(files, remote_dir, timeout))]
        failures = []
        for index, (label, copy) in enumerate(methods[self._copy_method:], self._copy_method):
            reason = copy()
            if reason is None:
                self._copy_method = index
                return
            failures.append(f"{label}: {reason}")
        where = self.connection.describe()
        raise TargetError(f"copying files to {where}:{remote_dir} failed, although {where} answers over ssh: "
                          + "; ".join(failures) + ". Check the free space there and that it has scp or tar.")

    def _copy_scp(self, files: Sequence[Path], remote_dir: str, timeout: float, legacy: bool) -> Optional[str]:
        """One scp; None when it worked, else why not. ssh's own failures (exit 255) raise."""
        argv = ["scp", "-q", *(["-O"] if legacy else []), *self._options(), "-P", str(self.connection.port),
                *map(str, files), f"{self.connection.destination}:{remote_dir}/"]
        for attempt in (1, 2):
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise TargetError(f"copying to {self.connection.describe()} took over {timeout:.0f} s.") from None
            if proc.returncode == 0:
                return None
            if proc.returncode != SSH_CONNECTION_FAILED or not _ssh_itself_failed(proc.stderr):
                # "scp: Connection closed" with nothing from ssh: the server refused the SFTP subsystem.
                return last_line(proc.stderr)
            if attempt == 2 or "ost key" in proc.stderr or "Permission denied" in proc.stderr:
                raise TargetError(f"copying files to {self.connection.describe()}:{remote_dir} failed: "
                                  f"{self._explain(proc.stderr)}")
        return None

    def _copy_tar(self, files: Sequence[Path], remote_dir: str, timeout: float) -> Optional[str]:
        """The files as one tar stream into `tar -x` on the device; None when it worked, else why not."""
        import io
        import tarfile

        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", dereference=True) as archive:
            for path in files:
                archive.add(str(path), arcname=Path(path).name, recursive=False)
        command = remote_command(["tar", "-x", "-f", "-", "-C", remote_dir])
        proc = self._ssh(command, timeout=timeout, input_bytes=buffer.getvalue())
        return None if proc.returncode == 0 else f"exit {proc.returncode}: {last_line(proc.stderr)}"

    def _connect_timeout(self) -> float:
        return self.connection.connect_timeout_s * 2 + 30

    # ----------------------------------------------------------------- facts
    def check(self) -> dict:
        """Device facts: model, CPU, cores, governor, temperature, throttling, Python, numpy, runtimes.

        Raises:
            TargetError: the device cannot be reached, or its Python cannot run.
        """
        proc = self._ssh(FACTS_SCRIPT, timeout=self._connect_timeout())
        facts: dict = {"kind": "ssh", "profile": self.name, "connection": self.connection.describe()}
        for line in proc.stdout.splitlines():
            key, _, value = line.partition("=")
            if key:
                facts[key.strip()] = value.strip() or None
        facts["temperature_c"] = _millicelsius(facts.pop("temperature_mc", None))
        facts["cpu_features"] = relevant_cpu_features(facts.pop("cpu_flags", None) or "")
        for key in ("cores", "mem_total_kb"):
            facts[key] = int(facts[key]) if str(facts.get(key) or "").isdigit() else None
        python = self.connection.python
        py = self._ssh(remote_command([python, "-c", PYTHON_FACTS]), timeout=self._connect_timeout() + 60)
        if py.returncode != 0:
            raise TargetError(f"{python!r} on {self.connection.describe()} failed: {last_line(py.stderr)}. "
                              "Install python3 and python3-numpy on the device, or set ssh.python in the profile.")
        facts.update(last_json_line(py.stdout, f"{python!r} on {self.connection.describe()}"))
        if self.profile is not None and self.profile.overrides:
            facts["overrides"] = self.profile.overrides
        return facts

    def hints(self, facts: dict) -> list[str]:
        """A device whose Python imports no TFLite runtime cannot run .tflite files: say what to install."""
        runtimes = facts.get("runtimes") or {}
        if any(runtimes.get(name) for name in ("ai_edge_litert", "tflite_runtime", "tensorflow")):
            return []
        return [f"no TFLite runtime imports with {self.connection.python} on the device: pip install ai-edge-litert "
                "(or tflite-runtime) for that Python"]

    def check_loads(self, artifacts: Sequence[Path]) -> list[LoadCheck]:
        """Copies the runner and the artifacts to a fresh folder on the device and loads each there."""
        artifacts = [Path(a) for a in artifacts]
        checks = []
        with self._remote_workdir() as remote_dir:
            staged = self._stage_and_copy(artifacts, None, remote_dir)
            for artifact, remote_name in staged:
                command = remote_command(["cd", remote_dir]) + " && " + remote_command(
                    [self.connection.python, "-c", LOAD_CHECK, remote_name, runtime_for(artifact, self.runtime)])
                proc = self._ssh(command, timeout=self._connect_timeout() + 120)
                checks.append(load_check_result(artifact, proc.returncode, proc.stdout, proc.stderr))
        return checks

    # ----------------------------------------------------------------- bench
    def bench(self, artifacts: list[Path], sample: Path, settings: BenchConfig) -> list[BenchOutcome]:
        """Copies the runner, the artifacts and the sample, runs each artifact, always cleans up."""
        artifacts = [Path(a) for a in artifacts]
        outcomes = []
        workdir = self._remote_workdir()
        with workdir as remote_dir:
            staged = self._stage_and_copy(artifacts, Path(sample), remote_dir)
            for index, artifact in self.announced([artifact for artifact, _ in staged]):
                remote_name = staged[index][1]
                try:
                    outcomes.append(self._bench_one(artifact, remote_name, f"result_{index}.json", remote_dir,
                                                    settings))
                except TargetError as err:  # this artifact's row says why; the others keep theirs
                    outcomes.append(BenchOutcome(artifact, error=str(err)))
            names = {artifact: remote_name for artifact, remote_name in staged}
            add_op_profiles(outcomes, settings, lambda: self._profiling_binary(remote_dir),
                            lambda _, outcome: self._op_profile(names[outcome.artifact], remote_dir, settings))
        if workdir.cleanup_error:
            for outcome in outcomes:
                outcome.notes["remote_cleanup_error"] = workdir.cleanup_error
        return outcomes

    def _bench_one(self, artifact: Path, remote_name: str, result_name: str, remote_dir: str,
                   settings: BenchConfig) -> BenchOutcome:
        limit = int(settings.timeout_s)
        runner = [self.connection.python, "runner.py"] + runner_arguments(
            remote_name, "sample.npz", result_name, settings, runtime_for(artifact, self.runtime))
        # Temperature before and after, the runner under `timeout` (so a hung model cannot outlive a
        # dropped ssh), its stdout sent to stderr, then the result JSON on stdout.
        read_temp = f"cat {THERMAL} 2>/dev/null || echo none"
        script = (f"cd {shlex.quote(remote_dir)} || exit 97; "
                  f"t0=$({read_temp}); "
                  f"if command -v timeout >/dev/null 2>&1; then timeout -s KILL {limit} {remote_command(runner)} 1>&2; "
                  f"else {remote_command(runner)} 1>&2; fi; rc=$?; "
                  f"t1=$({read_temp}); echo \"temps $t0 $t1\"; "
                  f"[ $rc -eq 0 ] && cat {shlex.quote(result_name)}; exit $rc")
        proc = self._ssh(script, timeout=limit + self._connect_timeout())
        first, _, body = proc.stdout.partition("\n")
        temperatures = _temperatures(first)
        if proc.returncode in (TIMEOUT_EXIT, 137):
            return BenchOutcome(artifact, error=f"runner did not finish within {limit} s on "
                                                f"{self.connection.describe()}", notes=temperatures)
        if proc.returncode != 0:
            return BenchOutcome(artifact, error=f"runner exited with code {proc.returncode} on "
                                                f"{self.connection.describe()}: {last_line(proc.stderr)}",
                                notes=temperatures)
        outcome = self.parse_result(body, artifact)
        outcome.notes.update(temperatures)
        return outcome

    def binary_platform(self) -> str:
        """LiteRT's binaries folder for this board's CPU (`uname -m`): linux_arm64 or linux_x86_64.

        Raises:
            TargetError: the board is unreachable, or LiteRT publishes nothing for its CPU.
        """
        return platform_for_machine(self._ssh("uname -m", timeout=self._connect_timeout() + 30).stdout)

    def _profiling_binary(self, remote_dir: str) -> BenchmarkBinary:
        """benchmark_model for this board's CPU, copied into the session folder."""
        binary = profiling_binary(self.profile.benchmark_model if self.profile else None, self.binary_platform())
        with tempfile.TemporaryDirectory(prefix="edgecomp-stage-") as stage:
            (Path(stage) / "benchmark_model").symlink_to(Path(binary.path).resolve())
            self._scp([Path(stage) / "benchmark_model"], remote_dir, timeout=self._connect_timeout() + 600)
        return binary

    def _op_profile(self, remote_model: str, remote_dir: str, settings: BenchConfig) -> dict:
        proc = self._ssh(remote_profile_script(remote_dir, remote_model, settings),
                         timeout=settings.timeout_s + 60 + self._connect_timeout())
        return profile_from_run(proc.returncode, proc.stdout + "\n" + proc.stderr)

    def _stage_and_copy(self, artifacts: Sequence[Path], sample: Optional[Path],
                        remote_dir: str) -> list[tuple[Path, str]]:
        """Copies runner + artifacts (+ sample) in one scp; names are made unique and shell-plain."""
        for artifact in artifacts:
            if not artifact.is_file():
                raise TargetError(f"artifact {artifact} does not exist.")
        with tempfile.TemporaryDirectory(prefix="edgecomp-stage-") as stage:
            staged, files = [], [RUNNER_PATH]
            for index, artifact in enumerate(artifacts):
                remote_name = f"model_{index}{artifact.suffix}"
                link = Path(stage) / remote_name
                link.symlink_to(artifact.resolve())
                staged.append((artifact, remote_name))
                files.append(link)
            if sample is not None:
                (Path(stage) / "sample.npz").symlink_to(Path(sample).resolve())
                files.append(Path(stage) / "sample.npz")
            self._scp(files, remote_dir, timeout=self._connect_timeout() + 600)
        return staged

    def _remote_workdir(self):
        return _RemoteWorkdir(self)


class _RemoteWorkdir:
    """`mktemp -d` on the device on enter; `rm -rf` of exactly that folder on exit, whatever happened."""

    def __init__(self, target: SshTarget):
        self.target = target
        self.path: Optional[str] = None
        self.cleanup_error: Optional[str] = None

    def __enter__(self) -> str:
        proc = self.target._ssh('mktemp -d "${TMPDIR:-/tmp}/edgecomp-bench.XXXXXX"',
                                timeout=self.target._connect_timeout())
        path = proc.stdout.strip()
        if proc.returncode != 0 or not path.startswith("/") or "edgecomp-bench." not in path:
            raise TargetError(f"cannot create a working folder on {self.target.connection.describe()}: "
                              f"{last_line(proc.stderr or proc.stdout)}")
        self.path = path
        return path

    def __exit__(self, *exc) -> None:
        if self.path is None:
            return
        try:
            proc = self.target._ssh(remote_command(["rm", "-rf", "--", self.path]),
                                    timeout=self.target._connect_timeout())
            if proc.returncode != 0:
                self.cleanup_error = f"could not remove {self.path}: {last_line(proc.stderr)}"
        except TargetError as err:
            # Measured results are worth more than a tidy /tmp: report the leftover, do not lose them.
            self.cleanup_error = f"could not remove {self.path}: {err}"


def _ssh_itself_failed(stderr: str) -> bool:
    """Did ssh fail to connect or log in (its messages start with "ssh:" or name the key or host)?"""
    return any(line.startswith("ssh:") or "ost key" in line or "Permission denied" in line
               for line in (stderr or "").splitlines())


def _millicelsius(value: Optional[str]) -> Optional[float]:
    try:
        return round(int(value) / 1000.0, 1)
    except (TypeError, ValueError):
        return None


def _temperatures(line: str) -> dict:
    """'temps 48312 51200' -> {"temperature_c_before": 48.3, "temperature_c_after": 51.2}."""
    parts = line.split()
    if len(parts) != 3 or parts[0] != "temps":
        return {}
    return {"temperature_c_before": _millicelsius(parts[1]), "temperature_c_after": _millicelsius(parts[2])}
