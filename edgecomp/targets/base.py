"""The abstract target: check / push / run / fetch / cleanup, and the benchmark built on them.

Also the load check every target answers the same way (`Target.check_loads` -> `LoadCheck`s), so
`edgecomp targets check` does not need to know which kind of target it talks to.
"""

from __future__ import annotations

import abc
import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

from edgecomp.core.errors import TargetError
from edgecomp.core.progress import StepsProgress
from edgecomp.core.records import HostCrossCheck, Measurement
from edgecomp.plan.plan import BenchConfig

RUNNER_PATH = Path(__file__).resolve().parent.parent / "measure" / "runner.py"


@dataclass
class BenchOutcome:
    """One artifact's benchmark: the runner's JSON when it worked, or why it did not.

    What the report and its readers decide on is typed (`accuracy_source`, `emulated`, `host_check`);
    `notes` holds what a target only reports (temperatures, a cleanup error), never a measured field.
    """

    artifact: Path
    result: Optional[dict] = None
    error: Optional[str] = None
    accuracy_source: str = "target"  # "host": the device cannot run the accuracy pass (adb)
    emulated: bool = False  # measured under an emulator (edgecomp.targets.emulated)
    host_check: Optional[HostCrossCheck] = None  # emulated boards: the host's accuracy on the same file
    op_profile: Optional[dict] = None  # benchmark_model's per-op profile (bench.op_profile)
    op_profile_error: Optional[str] = None  # why there is none when one was asked for
    op_profile_binary: Optional[dict] = None  # the benchmark_model that profiled ({"version", "source", "sha256"})
    benchmark_model: Optional[dict] = None  # adb: what benchmark_model printed of its run (parsed log)
    notes: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def measurement(self) -> Measurement:
        """The typed record of a working benchmark (`ok`)."""
        return Measurement.from_runner(self.result, self.accuracy_source, emulated=self.emulated,
                                       host_check=self.host_check, op_profile=self.op_profile,
                                       op_profile_error=self.op_profile_error, op_profile_binary=self.op_profile_binary,
                                       benchmark_model=self.benchmark_model)

def last_line(text: str) -> str:
    """The last non-empty line of a tool's output (where runners and ssh put the reason), capped."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:400] if lines else "no output"

def last_json_line(text: str, what: str) -> dict:
    """The JSON object a remote helper prints on its last line (banners or warnings may come first).

    Raises:
        TargetError: there is no such line.
    """

    lines = [line for line in (text or "").splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise TargetError(f"{what} printed no JSON result (last output: {last_line(text)})") from None

# Loads one model with the runner's own loader (runner.py sits in the working folder); run with the
# target's Python as `python -c LOAD_CHECK MODEL RUNTIME`.
LOAD_CHECK = r"""
import json, sys
import runner
path, runtime = sys.argv[1], sys.argv[2]
cls = runner.OnnxModel if path.endswith(".onnx") else runner.TfliteModel
model = cls(path, 1, runtime)
print(json.dumps({"runtime": model.runtime, "runtime_version": model.runtime_version,
                  "init_ms": model.init_ms, "io": model.describe()}))
"""


def runtime_for(artifact: Path, runtime: str) -> str:
    """The runner's --runtime for one artifact: .onnx always uses onnxruntime ("auto")."""
    if artifact.suffix == ".onnx":
        return "auto"
    return "auto" if runtime == "onnxruntime" else runtime

class LoadStatus(str, enum.Enum):
    """What a load check found out about one artifact."""

    LOADS = "loads"  # loaded by the runtime the benchmark will use, where it will run
    FAILS = "fails"  # will not run there; `LoadCheck.detail` says why
    NOT_TRIED = "not tried"  # this target cannot load it ahead of `edgecomp bench`; `detail` says why

@dataclass(frozen=True)
class LoadCheck:
    """Whether one artifact loads on a target: the runtime and model inputs that did, or why not.

    Attributes:
        artifact: the file's name.
        status: loads / fails / not tried.
        detail: the error (FAILS) or the reason it was not tried (NOT_TRIED); "" when it loads.
        runtime, runtime_version, init_ms, io: the runner's answer when it loaded (io is the
            runner's `describe()`: input/output dtype, shape and quantization).
    """

    artifact: str
    status: LoadStatus
    detail: str = ""
    runtime: Optional[str] = None
    runtime_version: Optional[str] = None
    init_ms: Optional[float] = None
    io: Optional[dict] = None

    @property
    def failed(self) -> bool:
        return self.status is LoadStatus.FAILS

def load_check_result(artifact: Path, returncode: int, stdout: str, stderr: str) -> LoadCheck:
    """What the runner's load check (`LOAD_CHECK`) printed about one artifact, on any target."""

    name = Path(artifact).name
    if returncode != 0:
        return LoadCheck(name, LoadStatus.FAILS, last_line(stderr or stdout))
    try:
        answer = last_json_line(stdout, "the load check")
    except TargetError as err:
        return LoadCheck(name, LoadStatus.FAILS, str(err))
    missing = {"runtime", "runtime_version", "init_ms", "io"} - set(answer)
    if missing:  # a runner.py from another edgecomp version on the path
        return LoadCheck(name, LoadStatus.FAILS, f"the load check's answer lacks {', '.join(sorted(missing))}: "
                                                 f"{last_line(stdout)}")
    return LoadCheck(name, LoadStatus.LOADS, runtime=answer["runtime"], runtime_version=answer["runtime_version"],
                     init_ms=float(answer["init_ms"]), io=answer["io"])

def runner_arguments(model: str, sample: str, out: str, settings: BenchConfig, runtime: str = "auto") -> list[str]:
    """The runner's command-line arguments (paths as the device sees them)."""
    return [model, "--sample", sample, "--out", out, "--threads", str(settings.threads),
            "--warmup", str(settings.warmup), "--min-runs", str(settings.min_runs),
            "--min-time", str(settings.min_time_s), "--max-runs", str(settings.max_runs),
            "--runtime", runtime]

class Target(abc.ABC):
    """A place that runs the benchmark runner. Subclasses move files and run commands."""

    name: str = "abstract"

    @abc.abstractmethod
    def check(self) -> dict:
        """Returns device facts (CPU, Python, runtimes...); raises TargetError if unusable."""

    @abc.abstractmethod
    def check_loads(self, artifacts: Sequence[Path]) -> list[LoadCheck]:
        """Tries loading each artifact where this target would run it, before any benchmark.

        Args:
            artifacts: existing .tflite / .onnx files.

        Returns:
            One `LoadCheck` per artifact, in order; a file that does not load is a FAILS row, not
            an exception.

        Raises:
            TargetError: the device cannot be reached at all.
        """

    def hints(self, facts: dict) -> list[str]:
        """What to fix on the device, read from the facts `check()` returned (none by default)."""
        return []

    @abc.abstractmethod
    def bench(self, artifacts: list[Path], sample: Path, settings: BenchConfig) -> list[BenchOutcome]:
        """Benchmarks each artifact in its own process; a failure is an outcome, not an exception."""

    def announced(self, artifacts: Sequence[Path]) -> Iterator[tuple[int, Path]]:
        """(index, artifact) for each artifact of a benchmark loop, under a bar with the time left
        estimated from the artifacts already measured, and a line per artifact, so a long benchmark on
        a slow board shows where it is (`edgecomp.core.progress.StepsProgress`)."""
        artifacts = [Path(artifact) for artifact in artifacts]
        with StepsProgress(f"benchmark on {self.name}", len(artifacts), "file",
                           f"benchmarked {{done}} files on {self.name} in {{elapsed}}") as steps:
            for index, artifact in enumerate(artifacts):
                steps.begin(f"benchmarking {artifact.name} on {self.name}", status=artifact.name)
                yield index, artifact
                steps.advance()

    @staticmethod
    def parse_result(text: str, artifact: Path) -> BenchOutcome:
        try:
            return BenchOutcome(artifact, result=json.loads(text))
        except json.JSONDecodeError as err:
            return BenchOutcome(artifact, error=f"runner wrote unreadable JSON: {err}")
