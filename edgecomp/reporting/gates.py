"""Quality gates: bounds on size, latency and accuracy that a build or benchmark must meet (exit code 3).

Definitions (the CLI help says the same):
- scope "every" (the default): gates apply to **every** artifact in the report, not only the best
  one: anything in the run folder may be shipped, so each must meet the bounds. An artifact with
  status `failed` or `parity_failed` is itself a violation whenever any gate is set (it cannot be
  shown to meet them, or disagrees with the Keras model).
- scope "any": the gates pass when at least one `ok` artifact meets every bound at once (a build
  whose float32 baseline is too big but whose int8 model fits); otherwise every miss is listed.
- `max_size_mb`: the raw file size (`size_bytes`, not gzip) in decimal MB (10^6 bytes), as in the table.
- `max_latency_ms`: the latency p50 in ms on the report's target; on an emulated target it cannot be
  checked, which is a violation (an emulator's latency says nothing about the device's).
- `min_accuracy`: in **percent** (89.5 means 89.5 %), compared with the accuracy measured through the
  artifact itself. A value in (0, 1] is refused as probably a fraction, rather than silently rescaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from edgecomp.core.emulation import is_emulated
from edgecomp.core.errors import QualityGateError, UsageError


def validate_gates(max_size_mb: Optional[float] = None, max_latency_ms: Optional[float] = None,
                   min_accuracy: Optional[float] = None) -> None:
    """Raises UsageError on a bound that cannot be meant; call it before a long build starts.

    Raises:
        UsageError: A non-positive size or latency bound, or an accuracy outside (1, 100] percent.
    """
    if max_size_mb is not None and max_size_mb <= 0:
        raise UsageError(f"--max-size-mb must be positive, got {max_size_mb}.")
    if max_latency_ms is not None and max_latency_ms <= 0:
        raise UsageError(f"--max-latency-ms must be positive, got {max_latency_ms}.")
    if min_accuracy is not None:
        if 0 < min_accuracy <= 1:
            raise UsageError(f"--min-accuracy is in percent; {min_accuracy} looks like a fraction. "
                             f"Pass {100 * min_accuracy:g} for {100 * min_accuracy:g} %.")
        if not 0 <= min_accuracy <= 100:
            raise UsageError(f"--min-accuracy is in percent and must be within 0..100, got {min_accuracy}.")


GATE_SCOPES = ("every", "any")


@dataclass(frozen=True)
class Gates:
    """The quality gates of one build or bench, checked when made (the units are in the module docstring).

    Raises:
        UsageError: an impossible bound (see `validate_gates`) or an unknown scope.

    Examples:
        >>> Gates(max_size_mb=1, min_accuracy=85).record()
        {'max_size_mb': 1, 'max_latency_ms': None, 'min_accuracy': 85, 'scope': 'every'}
    """

    max_size_mb: Optional[float] = None
    max_latency_ms: Optional[float] = None
    min_accuracy: Optional[float] = None  # percent
    scope: str = "every"

    def __post_init__(self):
        validate_gates(self.max_size_mb, self.max_latency_ms, self.min_accuracy)
        if self.scope not in GATE_SCOPES:
            raise UsageError(f"unknown gate scope {self.scope!r}; valid scopes: {', '.join(GATE_SCOPES)}.")

    def bounds(self) -> dict:
        return {"max_size_mb": self.max_size_mb, "max_latency_ms": self.max_latency_ms,
                "min_accuracy": self.min_accuracy}

    def record(self) -> dict:
        """What report.json records as `gates`."""
        return {**self.bounds(), "scope": self.scope}


def check_gates(report: dict, max_size_mb: Optional[float] = None, max_latency_ms: Optional[float] = None,
                min_accuracy: Optional[float] = None, scope: str = "every") -> list[str]:
    """Every missed bound, one line per artifact and bound.

    Args:
        report: A report.json document.
        max_size_mb: Largest allowed file size in MB (10^6 bytes), or None for no bound.
        max_latency_ms: Largest allowed latency p50 in ms, or None.
        min_accuracy: Smallest allowed accuracy in percent (e.g. 89.5), or None.
        scope: "every" artifact must pass, or "any" one `ok` artifact passing is enough.

    Returns:
        Lines like "model_float32.tflite: size 1.93 MB > --max-size-mb 1"; empty when the gates
        pass (see `scope`), or when no bound is given.

    Raises:
        UsageError: An impossible bound or an unknown scope (see `validate_gates`).
    """
    validate_gates(max_size_mb, max_latency_ms, min_accuracy)
    if scope not in GATE_SCOPES:
        raise UsageError(f"unknown gate scope {scope!r}; valid scopes: {', '.join(GATE_SCOPES)}.")
    if max_size_mb is None and max_latency_ms is None and min_accuracy is None:
        return []
    artifacts = report.get("artifacts") or []
    if not artifacts:
        return ["no artifacts in the report, so no quality gate can be met"]
    per_artifact = []
    for artifact in artifacts:
        name = artifact.get("name", "?")
        status = artifact.get("status")
        if status == "failed":
            per_artifact.append([f"{name}: failed ({artifact.get('error') or 'no reason recorded'})"])
            continue
        found = [f"{name}: parity with the Keras model failed"] if status == "parity_failed" else []
        per_artifact.append(found + bound_violations(name, artifact, max_size_mb, max_latency_ms, min_accuracy))
    if scope == "any" and any(not found for found in per_artifact):
        return []
    return [line for found in per_artifact for line in found]


def bound_violations(name: str, artifact: dict, max_size_mb: Optional[float], max_latency_ms: Optional[float],
                     min_accuracy: Optional[float]) -> list[str]:
    """The bounds one artifact misses, one line each (status not considered); empty when it meets them all."""
    found = []
    if max_size_mb is not None:
        size_bytes = artifact.get("size_bytes")
        if size_bytes is None:
            found.append(f"{name}: size not measured, --max-size-mb {max_size_mb:g} cannot be checked")
        elif size_bytes / 1e6 > max_size_mb:
            found.append(f"{name}: size {size_bytes / 1e6:.2f} MB > --max-size-mb {max_size_mb:g}")
    if max_latency_ms is not None:
        p50 = (artifact.get("latency_ms") or {}).get("p50")
        if is_emulated(artifact):
            found.append(f"{name}: latency was measured under emulation, --max-latency-ms {max_latency_ms:g} "
                         "cannot be checked (measure on the device itself)")
        elif p50 is None:
            found.append(f"{name}: latency not measured, --max-latency-ms {max_latency_ms:g} cannot be checked")
        elif p50 > max_latency_ms:
            found.append(f"{name}: latency p50 {p50:.3f} ms > --max-latency-ms {max_latency_ms:g}")
    if min_accuracy is not None:
        accuracy = artifact.get("accuracy")
        if accuracy is None:
            found.append(f"{name}: accuracy not measured, --min-accuracy {min_accuracy:g} cannot be checked")
        elif 100 * accuracy < min_accuracy:
            found.append(f"{name}: accuracy {100 * accuracy:.2f}% < --min-accuracy {min_accuracy:g}")
    return found


def raise_for_gates(report: dict, max_size_mb: Optional[float] = None, max_latency_ms: Optional[float] = None,
                    min_accuracy: Optional[float] = None, scope: str = "every") -> None:
    """Raises QualityGateError (exit code 3) naming every violation; returns quietly when all pass.

    Raises:
        QualityGateError: At least one artifact missed a bound or failed.
        UsageError: An impossible bound.
    """
    violations = check_gates(report, max_size_mb, max_latency_ms, min_accuracy, scope)
    if violations:
        where = "no artifact met every bound" if scope == "any" else "quality gate violation(s)"
        raise QualityGateError(f"{where} ({len(violations)}): " + "; ".join(violations)
                               + ". The report files are written; relax a bound or change the plan.")
