"""A device budget and how a trial's measured artifact is judged against it.

Every number comes from the trial's report.json (the artifact as measured on the target), never
from the Keras model: size and gzip size of the file, p50 latency and the model's own memory
(`model_peak_mb`, the runner's peak minus its RSS before loading, as the build report records it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

from edgecomp.core.errors import UsageError
from edgecomp.reporting.gates import validate_gates


@dataclass(frozen=True)
class Budget:
    """Limits a deployable artifact must meet; None means no limit.

    Units, the same as the flags of the same names everywhere: kB = 10^3 bytes, ms, MB = 10^6 bytes,
    and `min_accuracy` in percent (89.5 means 89.5 %), as the quality gates take it.
    """

    max_size_kb: Optional[float] = None
    max_gzip_kb: Optional[float] = None
    max_latency_ms: Optional[float] = None
    max_memory_mb: Optional[float] = None
    min_accuracy: Optional[float] = None

    def __post_init__(self):
        for name, value in asdict(self).items():
            if value is not None and value < 0:
                raise UsageError(f"--{name.replace('_', '-')} must be 0 or more; got {value}.")
        validate_gates(min_accuracy=self.min_accuracy)  # percent, a fraction refused (one rule for both)

    def limits(self) -> dict:
        return {name: value for name, value in asdict(self).items() if value is not None}

    def describe(self) -> str:
        parts = []
        if self.max_size_kb is not None:
            parts.append(f"size <= {self.max_size_kb:g} kB")
        if self.max_gzip_kb is not None:
            parts.append(f"gzip <= {self.max_gzip_kb:g} kB")
        if self.max_latency_ms is not None:
            parts.append(f"p50 <= {self.max_latency_ms:g} ms")
        if self.max_memory_mb is not None:
            parts.append(f"memory <= {self.max_memory_mb:g} MB")
        if self.min_accuracy is not None:
            parts.append(f"accuracy >= {self.min_accuracy:g} %")
        return ", ".join(parts) or "no limits"


def candidate_metrics(artifact: dict) -> dict:
    """The numbers a budget reads from one report.json artifact (None when not measured).

    Sizes are in kB (10^3 bytes) as the budget flags are.
    """
    size, gzip = artifact.get("size_bytes"), artifact.get("gzip_bytes")
    return {
        "accuracy": artifact.get("accuracy"),
        "size_kb": None if size is None else size / 1e3,
        "gzip_kb": None if gzip is None else gzip / 1e3,
        "latency_p50_ms": (artifact.get("latency_ms") or {}).get("p50"),
        "memory_mb": artifact.get("model_peak_mb"),
    }


# Budget field -> (metric, +1 for an upper limit / -1 for a lower one, metric -> the field's unit).
_CHECKS = {"max_size_kb": ("size_kb", 1, 1.0), "max_gzip_kb": ("gzip_kb", 1, 1.0),
           "max_latency_ms": ("latency_p50_ms", 1, 1.0), "max_memory_mb": ("memory_mb", 1, 1.0),
           "min_accuracy": ("accuracy", -1, 100.0)}  # the metric is a fraction, the limit percent


def violations(metrics: dict, budget: Budget) -> dict:
    """For each limit missed, how far off it is as a fraction of the limit (0.5 = 50 % over).

    A limit whose number was not measured counts as missed by 1.0: it cannot be shown to fit.
    """
    missed = {}
    for field, limit in budget.limits().items():
        metric, sign, unit = _CHECKS[field]
        value = metrics.get(metric)
        if value is not None:
            value *= unit
        if value is None:
            missed[field] = 1.0
        elif sign * (value - limit) > 0:
            missed[field] = abs(value - limit) / max(abs(limit), 1e-9)
    return missed


def trial_misses(metrics: dict, budget: Budget, artifact_status: str = "ok") -> dict:
    """`violations`, plus `parity` when the artifact disagrees with its Keras model: such a file
    never meets a budget (the build's gates refuse it too)."""
    missed = violations(metrics, budget)
    if artifact_status != "ok":
        missed["parity"] = 1.0
    return missed


MAX_MISS = 8.0  # keeps a measured trial's score (>= -9) above a failed one's (edgecomp.budget_search.trial.FAILED_SCORE)


def score(metrics: dict, missed: dict) -> float:
    """What the searcher maximizes: the accuracy when the budget is met, else below every fitting trial.

    A trial that misses is ranked by accuracy minus its total relative miss, so the searcher still
    learns which direction leads into the budget.
    """
    accuracy = metrics.get("accuracy") or 0.0
    return accuracy if not missed else accuracy - 1.0 - min(sum(missed.values()), MAX_MISS)
