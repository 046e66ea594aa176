"""Quality gates: each miss named with its bound; failed artifacts count; percent accuracy."""

import pytest

from edgecomp.core.errors import QualityGateError, UsageError
from edgecomp.reporting.gates import check_gates, raise_for_gates


def ok_only(report):
    report["artifacts"] = [a for a in report["artifacts"] if a["status"] == "ok"]
    return report


def test_no_bounds_means_no_violations(build_report):
    assert check_gates(build_report) == []


def test_all_pass(build_report):
    assert check_gates(ok_only(build_report), max_size_mb=2.0, max_latency_ms=1.0, min_accuracy=90.0) == []


def test_size_violation_names_artifact_value_and_flag(build_report):
    violations = check_gates(ok_only(build_report), max_size_mb=1.0)
    assert violations == ["model_float32.tflite: size 1.93 MB > --max-size-mb 1"]


def test_latency_and_accuracy_in_percent(build_report):
    violations = check_gates(ok_only(build_report), max_latency_ms=0.3, min_accuracy=91.0)
    assert any(v.startswith("model_float32.tflite: latency p50 0.41") and "--max-latency-ms 0.3" in v
               for v in violations)
    assert "model_int8.tflite: accuracy 90.98% < --min-accuracy 91" in violations
    assert not any("model_int8.tflite: latency" in v for v in violations)


def test_failed_and_parity_failed_count_as_violations(build_report):
    violations = check_gates(build_report, max_size_mb=10.0)
    assert "model_float32.onnx: parity with the Keras model failed" in violations
    assert any(v.startswith("model_int8.onnx: failed (onnxruntime") for v in violations)
    assert len(violations) == 2


def test_scope_any_passes_when_one_artifact_meets_every_bound(build_report):
    assert check_gates(build_report, max_size_mb=1.0, min_accuracy=90.0, scope="any") == []
    # Nothing meets 0.1 ms: every miss is listed (the parity-failed onnx has two).
    assert len(check_gates(build_report, max_latency_ms=0.1, scope="any")) == 5


def test_fraction_accuracy_is_refused_not_rescaled(build_report):
    with pytest.raises(UsageError, match="percent; 0.9 looks like a fraction. Pass 90"):
        check_gates(build_report, min_accuracy=0.9)
    with pytest.raises(UsageError):
        check_gates(build_report, max_size_mb=0)


def test_raise_for_gates_is_exit_code_3(build_report):
    with pytest.raises(QualityGateError) as caught:
        raise_for_gates(ok_only(build_report), max_size_mb=1.0)
    assert caught.value.exit_code == 3
    assert "model_float32.tflite: size 1.93 MB > --max-size-mb 1" in str(caught.value)
    raise_for_gates(ok_only(build_report), max_size_mb=5.0)
