"""Efficiency figures derived from measured numbers: accuracy per MB and per ms, ratios vs float32."""

from __future__ import annotations

from typing import Optional

BYTES_PER_MB = 1e6  # reports use decimal megabytes; the schema says so


def efficiency(accuracy: Optional[float], size_bytes: Optional[int], p50_ms: Optional[float]) -> dict:
    """acc_per_mb = accuracy / (size / 1e6); acc_per_ms = accuracy / latency p50 (ms)."""
    return {
        "acc_per_mb": accuracy / (size_bytes / BYTES_PER_MB) if accuracy is not None and size_bytes else None,
        "acc_per_ms": accuracy / p50_ms if accuracy is not None and p50_ms else None,
    }


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
