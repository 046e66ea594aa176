"""An ArtifactRecord becomes the report.json entry the schema describes."""

from edgecomp.core.records import ArtifactRecord, Measurement

RUNNER_RESULT = {"accuracy": 0.9, "accuracy_samples": 100, "latency_ms": {"p50": 1.5, "p90": 2.0},
                 "latencies_ms": [1.5, 2.0], "runs": 2, "init_ms": 3.0, "model_load_mb": 0.4,
                 "model_peak_mb": None, "process_peak_mb": 44.0, "memory": {"method": "proc_status"}, "runtime": {"name": "ai_edge_litert", "version": "2.3.0"},
                 "io": {"input_dtype": "float32"}, "threads": 1}


def test_failed_export_has_no_measured_fields():
    record = ArtifactRecord(name="m.onnx", format="onnx", precision="int8", path="artifacts/m.onnx", params=10)
    record.fail("export: converter crashed")
    assert record.to_dict() == {"name": "m.onnx", "format": "onnx", "precision": "int8",
                                "path": "artifacts/m.onnx", "status": "failed",
                                "error": "export: converter crashed", "params": 10}


def test_measurement_and_target_notes_are_flattened():
    record = ArtifactRecord(name="m.tflite", format="tflite", precision="float32", path="m.tflite",
                            size_bytes=1000, gzip_bytes=900, parity={"passed": True})
    record.measurement = Measurement.from_runner(RUNNER_RESULT, accuracy_source="host")
    record.target_notes["temperature_c_before"] = 48.3
    entry = record.to_dict()
    assert entry["accuracy"] == 0.9 and entry["accuracy_source"] == "host" and entry["latency_ms"]["p50"] == 1.5
    assert "model_peak_mb" in entry and entry["model_peak_mb"] is None  # measured fields stay, even when unknown
    assert entry["model_load_mb"] == 0.4 and entry["process_peak_mb"] == 44.0
    assert entry["temperature_c_before"] == 48.3 and entry["parity"] == {"passed": True}
    assert "sparsity" not in entry and "model_card" not in entry and "role" not in entry
    assert record.accuracy == 0.9
