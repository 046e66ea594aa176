"""Efficiency figures derived from measured numbers: accuracy per MB and per ms, ratios vs float32.

The efficiency figures are defined here once (`EFFICIENCY_DEFINITIONS`); the README, the report legend
and every renderer use these words and `efficiency()`'s numbers.
"""

from __future__ import annotations

from typing import Optional

BYTES_PER_MB = 1e6  # reports use decimal megabytes; the schema says so

# Field -> the one sentence that defines it (the legend and the README print these).
EFFICIENCY_DEFINITIONS = {
    "acc_per_mb": "acc/MB: accuracy in percent per MB of file.",
    "acc_per_gzip_mb": "acc/gzip MB: accuracy in percent per MB of the gzipped file.",
    "acc_per_ms": "acc/ms: accuracy in percent per ms of latency p50.",
}
EFFICIENCY_NOTE = " ".join(EFFICIENCY_DEFINITIONS.values()) + " MB = 10^6 bytes."


def efficiency(accuracy: Optional[float], size_bytes: Optional[int], gzip_bytes: Optional[int],
               p50_ms: Optional[float]) -> dict:
    """Accuracy in percent per MB (raw and gzipped file) and per ms of latency p50.

    Args:
        accuracy: Top-1 accuracy as a fraction (0..1), as report.json stores it.
        size_bytes: The file's size in bytes.
        gzip_bytes: The gzipped file's size in bytes.
        p50_ms: Latency p50 in ms.

    Returns:
        {"acc_per_mb", "acc_per_gzip_mb", "acc_per_ms"}; None where an input is missing or zero.
    """
    percent = None if accuracy is None else 100.0 * accuracy

    def per(amount: Optional[float]) -> Optional[float]:
        return percent / amount if percent is not None and amount else None

    return {
        "acc_per_mb": per(size_bytes / BYTES_PER_MB if size_bytes else None),
        "acc_per_gzip_mb": per(gzip_bytes / BYTES_PER_MB if gzip_bytes else None),
        "acc_per_ms": per(p50_ms),
    }


def artifact_efficiency(artifact: dict) -> dict:
    """`efficiency()` of one report.json artifact entry."""
    return efficiency(artifact.get("accuracy"), artifact.get("size_bytes"), artifact.get("gzip_bytes"),
                      (artifact.get("latency_ms") or {}).get("p50"))


def ratios_vs(baseline: dict, artifact: dict) -> Optional[dict]:
    """How an artifact compares with the float32 baseline of the same format, in the same run."""
    def ratio(key_fn):
        try:
            base, mine = key_fn(baseline), key_fn(artifact)
        except (KeyError, TypeError):
            return None
        return base / mine if base and mine else None

    if baseline is artifact or baseline.get("status") == "failed":
        return None
    accuracy_delta = None
    if artifact.get("accuracy") is not None and baseline.get("accuracy") is not None:
        accuracy_delta = artifact["accuracy"] - baseline["accuracy"]
    return {
        # >1 means smaller / faster than float32.
        "size_ratio": ratio(lambda a: a["size_bytes"]),
        "gzip_ratio": ratio(lambda a: a["gzip_bytes"]),
        "latency_p50_ratio": ratio(lambda a: a["latency_ms"]["p50"]),
        "accuracy_delta": accuracy_delta,
    }
