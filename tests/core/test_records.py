"""An ArtifactRecord becomes the report.json entry the schema describes."""

import pytest

from edgecomp.core.errors import InternalError
from edgecomp.core.records import ArtifactRecord, HostCrossCheck, Measurement

RUNNER_RESULT = {"accuracy": 0.9, "accuracy_samples": 100, "latency_ms": {"p50": 1.5, "p90": 2.0},
                 "latencies_ms": [1.5, 2.0], "runs": 2, "init_ms": 3.0, "model_load_mb": 0.4,
                 "model_peak_mb": None, "process_peak_mb": 44.0, "memory": {"method": "proc_status"}, "runtime": {"name": "ai_edge_litert", "version": "2.3.0"},
                 "io": {"input_dtype": "float32"}, "threads": 1}


def _measured(**measurement) -> ArtifactRecord:
    record = ArtifactRecord(name="m.tflite", format="tflite", precision="float32", path="m.tflite",
                            size_bytes=1000, gzip_bytes=900, parity={"passed": True})
    record.measurement = Measurement.from_runner(RUNNER_RESULT, **measurement)
    return record


def test_failed_export_has_no_measured_fields():
    record = ArtifactRecord(name="m.onnx", format="onnx", precision="int8", path="artifacts/m.onnx", params=10)
    record.fail("export: converter crashed")
    assert record.to_dict() == {"name": "m.onnx", "format": "onnx", "precision": "int8",
                                "path": "artifacts/m.onnx", "status": "failed",
                                "error": "export: converter crashed", "params": 10}


def test_measurement_is_flattened_and_target_notes_kept_apart():
    record = _measured(accuracy_source="host")
    record.target_notes["temperature_c_before"] = 48.3
    entry = record.to_dict()
    assert entry["accuracy"] == 0.9 and entry["accuracy_source"] == "host" and entry["latency_ms"]["p50"] == 1.5
    assert entry["emulated"] is False  # a typed flag, written on every measured artifact
    assert "model_peak_mb" in entry and entry["model_peak_mb"] is None  # measured fields stay, even when unknown
    assert entry["model_load_mb"] == 0.4 and entry["process_peak_mb"] == 44.0
    assert entry["target_notes"] == {"temperature_c_before": 48.3} and "temperature_c_before" not in entry
    assert entry["parity"] == {"passed": True}
    assert "sparsity" not in entry and "model_card" not in entry and "role" not in entry
    assert "host_accuracy" not in entry  # only an emulated board's host check writes those keys
    assert record.accuracy == 0.9


def test_a_note_named_like_a_measurement_does_not_overwrite_it():
    record = _measured()
    record.target_notes.update({"accuracy": 0.1, "emulated": True, "accuracy_source": "host", "status": "ok!"})
    entry = record.to_dict()
    assert (entry["accuracy"], entry["emulated"], entry["accuracy_source"], entry["status"]) == (0.9, False,
                                                                                                 "target", "ok")
    assert entry["target_notes"]["accuracy"] == 0.1  # the note itself is kept, under its own key


def test_emulated_and_the_host_check_are_their_own_keys():
    check = HostCrossCheck(host_accuracy=0.91, host_runtime={"name": "ai_edge_litert"}, accuracy_vs_host_points=-1.0)
    entry = _measured(emulated=True, host_check=check).to_dict()
    assert entry["emulated"] is True and "host_check" not in entry
    assert (entry["host_accuracy"], entry["host_runtime"], entry["accuracy_vs_host_points"]) == (
        0.91, {"name": "ai_edge_litert"}, -1.0)
    assert "host_error" not in entry
    failed = HostCrossCheck(host_accuracy=None, host_runtime=None, accuracy_vs_host_points=None, host_error="no op")
    assert _measured(emulated=True, host_check=failed).to_dict()["host_error"] == "no op"


def test_an_unknown_accuracy_source_is_a_bug():
    with pytest.raises(InternalError, match="accuracy_source 'device'"):
        Measurement.from_runner(RUNNER_RESULT, accuracy_source="device")
