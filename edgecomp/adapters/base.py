"""The abstract target: check / push / run / fetch / cleanup, and the benchmark built on them."""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from edgecomp.config import BenchConfig

RUNNER_PATH = Path(__file__).resolve().parent.parent / "bench" / "runner.py"


@dataclass
class BenchOutcome:
    """One artifact's benchmark: the runner's JSON when it worked, or why it did not."""

    artifact: Path
    result: Optional[dict] = None
    error: Optional[str] = None
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def last_line(text: str) -> str:
    """The last non-empty line of a tool's output (where runners and ssh put the reason), capped."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:400] if lines else "no output"


def last_json_line(text: str, what: str) -> dict:
    """The JSON object a remote helper prints on its last line (banners or warnings may come first).

    Raises:
        TargetError: there is no such line.
    """
    from edgecomp.errors import TargetError

    lines = [line for line in (text or "").splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise TargetError(f"{what} printed no JSON result (last output: {last_line(text)})") from None


def load_check_result(returncode: int, stdout: str, stderr: str) -> dict:
    """What the runner's load check (ssh.LOAD_CHECK) said about one artifact: {"ok", "error" | io...}."""
    from edgecomp.errors import TargetError

    if returncode != 0:
        return {"ok": False, "error": last_line(stderr or stdout)}
    try:
        return {"ok": True, **last_json_line(stdout, "the load check")}
    except TargetError as err:
        return {"ok": False, "error": str(err)}


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
    def bench(self, artifacts: list[Path], sample: Path, settings: BenchConfig) -> list[BenchOutcome]:
        """Benchmarks each artifact in its own process; a failure is an outcome, not an exception."""

    def announce(self, index: int, total: int, artifact: Path) -> None:
        """One progress line per artifact, so a long benchmark on a slow board shows where it is."""
        from edgecomp.progress import step

        step(f"[{index + 1}/{total}] benchmarking {Path(artifact).name} on {self.name}")

    @staticmethod
    def parse_result(text: str, artifact: Path) -> BenchOutcome:
        try:
            return BenchOutcome(artifact, result=json.loads(text))
        except json.JSONDecodeError as err:
            return BenchOutcome(artifact, error=f"runner wrote unreadable JSON: {err}")
