"""The adb target: LiteRT's `benchmark_model` on an Android device, accuracy measured on the host.

benchmark_model is the profile's `adb.benchmark_model`, else LiteRT's prebuilt android_arm64 binary,
downloaded and verified on first use (`edgecomp.targets.binaries`). Latency, init time and memory
come from parsing its log (`parse_benchmark_model_output`); benchmark_model feeds random inputs, so
accuracy is the same artifact's accuracy on the host, labelled `accuracy_source: "host"`.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Optional, Sequence

from edgecomp.core.errors import TargetError
from edgecomp.plan.plan import BenchConfig
from edgecomp.targets.base import BenchOutcome, LoadCheck, LoadStatus, Target, last_line
from edgecomp.targets.benchmark_model import benchmark_model_arguments
from edgecomp.targets.binaries import BenchmarkBinary, fetch_benchmark_model, user_binary
from edgecomp.targets.cpu_features import cpuinfo_flags, relevant_cpu_features
from edgecomp.targets.host import HostTarget
from edgecomp.targets.op_profile import parse_op_profile

_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
# "count=50 first=266601 curr=266931 min=265837 max=268116 avg=266473 std=419 [p5=.. median=.. p95=..]"
_STAT_LINE = re.compile(r"\bcount=(\d+)\b(.*)")
_STAT_FIELD = re.compile(rf"\b(first|curr|min|max|avg|std|p5|median|p95)=({_NUMBER})")
_TIMINGS = re.compile(rf"Inference timings in us: Init: ({_NUMBER}), First inference: ({_NUMBER}), "
                      rf"Warmup \(avg\): ({_NUMBER}), Inference \(avg\): ({_NUMBER})")
_MEMORY = re.compile(rf"Memory footprint delta from the start of the tool \(MB\): init=({_NUMBER}) "
                     rf"overall=({_NUMBER})")
_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUMBER})")
_MODEL_SIZE = re.compile(rf"The input model file size \(MB\): ({_NUMBER})")
_ERROR = re.compile(r"\b(ERROR|FATAL|Failed|failed)\b")

ANDROID_PLATFORM = "android_arm64"  # LiteRT's binaries folder for arm64-v8a phones

def _stat(text: str) -> dict:
    """One `count=...` line -> {"count", "first", ..., "median"} in microseconds."""
    count_match = _STAT_LINE.search(text)
    fields = {name: float(value) for name, value in _STAT_FIELD.findall(count_match.group(2))}
    fields["count"] = int(count_match.group(1))
    if "min" not in fields and "curr" in fields:  # "count=1 curr=637079" or "(all same)"
        fields.update(min=fields["curr"], max=fields["curr"], avg=fields["curr"], std=0.0)
    return fields

def parse_benchmark_model_output(text: str) -> dict:
    """Parses LiteRT/TFLite `benchmark_model` output (plain, `INFO:`-prefixed or logcat lines).

    Args:
        text: everything benchmark_model printed (stdout and stderr together).

    Returns:
        {"latency_ms": {"mean", "std", "min", "max", ["p5", "p50", "p95"]}, "runs", "warmup_runs",
         "init_ms", "first_inference_ms", "warmup_mean_ms", "model_size_mb", "memory_init_mb",
         "memory_overall_mb", "peak_memory_mb"}; a value is None where the tool did not print it.
        Percentiles appear only where this benchmark_model version prints them (p5/median/p95);
        benchmark_model prints no p90/p99.

    Raises:
        ValueError: no "Inference timings in us" line: the benchmark did not complete; the
            message carries the last error line printed.
    """
    timings = _TIMINGS.search(text)
    if timings is None:
        errors = [line.strip() for line in text.splitlines() if _ERROR.search(line)]
        last = errors[-1] if errors else (text.strip().splitlines() or ["no output"])[-1].strip()
        raise ValueError(f"benchmark_model did not finish: {last[:300]}")
    init_us, first_us, warmup_avg_us, inference_avg_us = (float(v) for v in timings.groups())
    # The Run() stat lines come in order: warm-up first, then the timed runs.
    stat_lines = [line for line in text[:timings.start()].splitlines() if _STAT_LINE.search(line)]
    inference = _stat(stat_lines[-1]) if stat_lines else {"avg": inference_avg_us}
    warmup = _stat(stat_lines[-2]) if len(stat_lines) >= 2 else None
    latency = {"mean": inference_avg_us / 1e3, "std": _ms(inference.get("std")),
               "min": _ms(inference.get("min")), "max": _ms(inference.get("max"))}
    for key, name in (("p5", "p5"), ("median", "p50"), ("p95", "p95")):
        if key in inference:
            latency[name] = inference[key] / 1e3
    memory = _MEMORY.search(text)
    peak = _PEAK.search(text)
    size = _MODEL_SIZE.search(text)
    return {
        "latency_ms": latency,
        "runs": inference.get("count"),
        "warmup_runs": warmup["count"] if warmup else None,
        "init_ms": init_us / 1e3,
        "first_inference_ms": first_us / 1e3,
        "warmup_mean_ms": warmup_avg_us / 1e3,
        "model_size_mb": float(size.group(1)) if size else None,
        "memory_init_mb": float(memory.group(1)) if memory else None,
        "memory_overall_mb": float(memory.group(2)) if memory else None,
        "peak_memory_mb": float(peak.group(1)) if peak and float(peak.group(1)) > 0 else None,
    }

MIB_TO_MB = 2**20 / 1e6  # benchmark_model divides kB by 1024 and calls it MB; reports use 10^6 bytes


def benchmark_model_memory(parsed: dict) -> dict:
    """benchmark_model's memory lines as the runner's fields, in MB (10^6 bytes).

    Its "footprint delta from the start of the tool" init= and overall= are the model's load and
    peak footprint (the same definition as the runner's); the periodic-monitoring peak is the process's.
    """
    def mb(value: Optional[float]) -> Optional[float]:
        return None if value is None else value * MIB_TO_MB

    memory = {"method": "benchmark_model", "model_load_mb": mb(parsed.get("memory_init_mb")),
              "model_peak_mb": mb(parsed.get("memory_overall_mb")),
              "process_peak_mb": mb(parsed.get("peak_memory_mb"))}
    return {**{k: v for k, v in memory.items() if k != "method"}, "memory": memory}

def _ms(us: Optional[float]) -> Optional[float]:
    return None if us is None else us / 1e3

def _adb_problem(output: str, serial: Optional[str]) -> str:
    """adb's own error text -> what to do."""
    text = output.strip()
    who = f"device {serial!r}" if serial else "an Android device"
    if "no devices" in text or "device not found" in text or ("device '" in text and "not found" in text):
        return (f"adb cannot find {who} ({text.splitlines()[-1] if text else 'no device'}). Plug it in with USB "
                "debugging on (Settings > Developer options), check `adb devices`, or set adb.serial / "
                "EDGECOMP_ADB_SERIAL.")
    if "more than one" in text:
        return "more than one Android device is attached; choose one with adb.serial, --serial or EDGECOMP_ADB_SERIAL."
    if "unauthorized" in text:
        return "the device has not authorized this computer: unlock it and accept the USB debugging prompt."
    if "offline" in text:
        return "the device is offline: reconnect the cable or run `adb reconnect`."
    # adb push ends with a summary line ("0 files pushed"); the reason is on its "adb: error:" line
    reasons = [line for line in text.splitlines() if "error:" in line] or text.splitlines() or ["no output"]
    return f"adb failed: {reasons[-1].strip()}"

class AdbTarget(Target):
    """An Android device reached with the `adb` binary, timed with LiteRT's benchmark_model."""

    kind = "adb"

    def __init__(self, connection, delegate: str = "xnnpack", name: str = "adb", profile=None,
                 host_runtime: str = "auto"):
        self.connection = connection
        self.delegate = delegate
        self.name = name
        self.profile = profile
        self.host_runtime = host_runtime

    @classmethod
    def from_profile(cls, profile) -> AdbTarget:
        return cls(profile.adb, delegate=profile.delegate, name=profile.name, profile=profile)

    def _adb(self, args: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess:
        argv = [self.connection.adb, *(["-s", self.connection.serial] if self.connection.serial else []), *args]
        try:
            # stdin closed: adb would otherwise forward the user's terminal to the device shell
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise TargetError(f"the adb binary {self.connection.adb!r} was not found: install Android platform "
                              "tools (Debian/Ubuntu: apt install adb).") from None
        except subprocess.TimeoutExpired:
            raise TargetError(f"adb {' '.join(args[:2])} did not answer within {timeout:.0f} s.") from None

    def _shell(self, argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess:
        """Runs a command in the device shell; every argument is quoted for it."""
        return self._adb(["shell", " ".join(shlex.quote(str(a)) for a in argv)], timeout=timeout)

    def _require_device(self) -> None:
        proc = self._adb(["get-state"], timeout=30)
        if proc.returncode != 0 or proc.stdout.strip() != "device":
            raise TargetError(_adb_problem(proc.stderr + proc.stdout, self.connection.serial))

    def benchmark_binary(self) -> BenchmarkBinary:
        """The profile's benchmark_model (adb.benchmark_model wins), else LiteRT's prebuilt android_arm64
        binary for the installed ai-edge-litert, downloaded and verified on first use (`binaries`).

        Raises:
            TargetError: the configured file does not exist, or the download failed (offline: the
                message names the URL and the profile key to set).
        """
        if self.connection.benchmark_model:
            return user_binary(self.connection.benchmark_model, ANDROID_PLATFORM)
        return fetch_benchmark_model(ANDROID_PLATFORM)

    def check(self) -> dict:
        """Device facts from getprop (model, SoC platform, ABI, Android release) and /proc/cpuinfo.

        Raises:
            TargetError: adb is missing, or no (or no authorized) device is attached.
        """
        self._require_device()
        facts = {"kind": "adb", "profile": self.name, "serial": self.connection.serial}
        for key, prop in (("model", "ro.product.model"), ("platform", "ro.board.platform"),
                          ("abi", "ro.product.cpu.abi"), ("android", "ro.build.version.release")):
            facts[key] = self._shell(["getprop", prop]).stdout.strip() or None
        cores = self._shell(["cat", "/sys/devices/system/cpu/present"]).stdout.strip()
        facts["cpus_present"] = cores or None
        # arm64's `Features` line: asimddp / i8mm decide whether int8 kernels gain (see cpu_features)
        facts["cpu_features"] = relevant_cpu_features(cpuinfo_flags(self._shell(["cat", "/proc/cpuinfo"]).stdout))
        facts["benchmark_model"] = (str(self.connection.benchmark_model) if self.connection.benchmark_model else
                                    f"LiteRT's prebuilt {ANDROID_PLATFORM} binary (`edgecomp targets setup`, or the "
                                    "first bench, downloads it)")
        facts["delegate"] = self.delegate
        if self.profile is not None and self.profile.overrides:
            facts["overrides"] = self.profile.overrides
        return facts

    def check_loads(self, artifacts: Sequence[Path]) -> list[LoadCheck]:
        """What can be known before `edgecomp bench` without running benchmark_model on the phone.

        It cannot say whether a file loads on the device: only benchmark_model (pushed and run by
        `bench`) loads it there, with the device's delegate. It can say that a .onnx file will not run
        (benchmark_model runs .tflite only), and that a .tflite file this host's LiteRT cannot load is
        broken everywhere. A .tflite that loads on the host is NOT_TRIED, with the host's answer.
        """

        artifacts = [Path(a) for a in artifacts]
        tflite = [a for a in artifacts if a.suffix == ".tflite"]
        on_host = dict(zip(tflite, HostTarget(runtime=self.host_runtime).check_loads(tflite)))
        checks = []
        for artifact in artifacts:
            host = on_host.get(artifact)
            if host is None:
                checks.append(LoadCheck(artifact.name, LoadStatus.FAILS, "benchmark_model runs .tflite files only; "
                                                                        "benchmark .onnx on a host or ssh target"))
            elif host.failed:
                checks.append(LoadCheck(artifact.name, LoadStatus.FAILS,
                                        f"does not load even with this host's LiteRT: {host.detail}"))
            else:
                checks.append(LoadCheck(artifact.name, LoadStatus.NOT_TRIED,
                                        f"not loaded on the device (benchmark_model loads it when `edgecomp bench` "
                                        f"runs); loads on this host with {host.runtime} {host.runtime_version}",
                                        io=host.io))
        return checks

    def bench(self, artifacts: list[Path], sample: Path, settings: BenchConfig) -> list[BenchOutcome]:
        """Pushes benchmark_model and the artifacts, runs each, always removes the session folder."""
        binary = self.benchmark_binary()  # before touching the device: a missing binary is a setup error
        self._require_device()
        host_accuracy = self._host_accuracy(artifacts, sample, settings)
        remote = f"{self.connection.remote_dir.rstrip('/')}/session-{uuid.uuid4().hex[:12]}"
        outcomes = []
        try:
            self._checked(self._shell(["mkdir", "-p", remote]), "create " + remote)
            self._checked(self._adb(["push", binary.path, f"{remote}/benchmark_model"], timeout=300), "push")
            self._checked(self._shell(["chmod", "755", f"{remote}/benchmark_model"]), "chmod benchmark_model")
            for index, artifact in self.announced(artifacts):
                try:
                    outcomes.append(self._bench_one(artifact, f"{remote}/model_{index}{artifact.suffix}", remote,
                                                    settings, host_accuracy.get(artifact), binary))
                except TargetError as err:  # this artifact's row says why; the others keep theirs
                    outcomes.append(BenchOutcome(artifact, error=str(err)))
        finally:
            try:
                self._shell(["rm", "-rf", remote])
            except TargetError as err:  # a device gone mid-run must not hide the results or the real error
                for outcome in outcomes:
                    outcome.notes["remote_cleanup_error"] = str(err)
        return outcomes

    def _checked(self, proc: subprocess.CompletedProcess, what: str) -> None:
        if proc.returncode != 0:
            raise TargetError(f"adb {what} failed: {_adb_problem(proc.stderr + proc.stdout, self.connection.serial)}")

    def _op_profile(self, remote_csv: str, log: str) -> Optional[dict]:
        """The op profiler's CSV file pulled from the device, else the text tables in the log; None if neither."""
        with tempfile.TemporaryDirectory() as folder:
            local = Path(folder) / "op_profile.csv"
            pulled = self._adb(["pull", remote_csv, str(local)], timeout=120)
            if pulled.returncode == 0 and local.is_file():
                profile = parse_op_profile(local.read_text(errors="replace"))
                if profile is not None:
                    return profile
        return parse_op_profile(log)

    def _host_accuracy(self, artifacts, sample: Path, settings: BenchConfig) -> dict:
        """The same artifacts' accuracy (and I/O description) on this host's runner."""

        quick = settings.model_copy(update={"warmup": 0, "min_runs": 1, "min_time_s": 0.0, "max_runs": 1,
                                            "op_profile": False})  # the device's op profile, not the host's
        outcomes = HostTarget(runtime=self.host_runtime).bench([Path(a) for a in artifacts], sample, quick)
        return {Path(o.artifact): o for o in outcomes}

    def _bench_one(self, artifact: Path, remote_model: str, remote: str, settings: BenchConfig,
                   host: Optional[BenchOutcome], binary: BenchmarkBinary) -> BenchOutcome:
        if artifact.suffix != ".tflite":
            return BenchOutcome(artifact, error="benchmark_model runs .tflite files only; "
                                                "benchmark .onnx on a host or ssh target")
        push = self._adb(["push", str(artifact), remote_model], timeout=300)
        if push.returncode != 0:
            return BenchOutcome(artifact, error=f"adb push failed: {push.stderr.strip()[-300:]}")
        profile_file = f"{remote_model}.op_profile.csv" if settings.op_profile else None
        command = benchmark_model_arguments(f"{remote}/benchmark_model", remote_model, settings, self.delegate,
                                            profile_file)
        proc = self._shell(command, timeout=settings.timeout_s + 60)
        try:
            parsed = parse_benchmark_model_output(proc.stdout + "\n" + proc.stderr)
        except ValueError as err:
            return BenchOutcome(artifact, error=f"{err} (exit code {proc.returncode})")
        if proc.returncode != 0:  # it printed results, then failed: the numbers cannot be trusted
            return BenchOutcome(artifact, error=f"benchmark_model exited with code {proc.returncode}: "
                                                f"{last_line(proc.stderr or proc.stdout)}")
        host_result = host.result if host is not None and host.ok else {}
        result = {
            "runner_version": None, "model": artifact.name,
            "runtime": {"name": "benchmark_model", "version": binary.version, "delegate": self.delegate,
                        "source": binary.source, "sha256": binary.sha256},
            "threads": settings.threads, "io": host_result.get("io"),
            "init_ms": parsed["init_ms"], "runs": parsed["runs"], "warmup": parsed["warmup_runs"],
            "latency_ms": {"p50": None, "p90": None, "p99": None, **parsed["latency_ms"]},
            "latencies_ms": [],  # benchmark_model prints aggregates only
            **benchmark_model_memory(parsed),
            "accuracy": host_result.get("accuracy"), "accuracy_samples": host_result.get("accuracy_samples"),
        }
        outcome = BenchOutcome(artifact, result=result, accuracy_source="host", benchmark_model=parsed)
        if profile_file:
            ops = self._op_profile(profile_file, proc.stdout + "\n" + proc.stderr)
            if ops:
                outcome.op_profile = ops
            else:
                outcome.op_profile_error = "benchmark_model printed no op profile (a build without the profiler?)"
        if host is not None and not host.ok:
            outcome.notes["accuracy_error"] = host.error
        return outcome
