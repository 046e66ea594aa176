"""The efficiency figures: accuracy in percent per MB (raw, gzip) and per ms, on the accuracy column's scale."""

import pytest

from edgecomp.measure.metrics import EFFICIENCY_DEFINITIONS, efficiency
from edgecomp.reporting.schema import SCHEMA_VERSION, upgrade


def test_efficiency_is_percent_per_decimal_mb_and_per_ms():
    # The default build's teacher: 92.95% at 1,565,636 bytes (1,447,030 gzipped), p50 0.1622 ms.
    figures = efficiency(0.9295, 1_565_636, 1_447_030, 0.1622)
    assert figures["acc_per_mb"] == pytest.approx(92.95 / 1.565636)  # 59.37, not 0.594
    assert figures["acc_per_gzip_mb"] == pytest.approx(92.95 / 1.447030)
    assert figures["acc_per_ms"] == pytest.approx(92.95 / 0.1622)


def test_missing_or_zero_inputs_give_none():
    assert efficiency(None, 100, 90, 1.0) == {"acc_per_mb": None, "acc_per_gzip_mb": None, "acc_per_ms": None}
    assert efficiency(0.9, 0, None, 0.0) == {"acc_per_mb": None, "acc_per_gzip_mb": None, "acc_per_ms": None}


def test_every_figure_has_one_definition():
    assert set(EFFICIENCY_DEFINITIONS) == set(efficiency(0.9, 1, 1, 1.0))
    assert all("percent" in sentence for sentence in EFFICIENCY_DEFINITIONS.values())


def test_a_version_1_report_is_recomputed_in_percent():
    old = {"schema_version": 1, "artifacts": [{"name": "m.tflite", "status": "ok", "accuracy": 0.9, "size_bytes": 2e6,
                                               "gzip_bytes": 1e6, "latency_ms": {"p50": 0.5}, "acc_per_mb": 0.45}]}
    artifact = upgrade(old)["artifacts"][0]
    assert (artifact["acc_per_mb"], artifact["acc_per_gzip_mb"], artifact["acc_per_ms"]) == (45.0, 90.0, 180.0)
    assert old["schema_version"] == SCHEMA_VERSION and old["upgraded_from"] == 1
