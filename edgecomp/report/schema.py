"""The report.json schema (versioned). Everything else renders from this one document.

    {
      "schema_version": 1,
      "edgecomp_version": "0.1.0",
      "created": "2026-11-24T12:00:00+00:00",
      "command": "edgecomp build --target host",
      "run_dir": "/abs/path/runs/build",
      "plan": {...the resolved plan, every default filled in...},
      "dataset": {"name", "source", "input_shape", "num_classes", "class_names", "train", "val", "test",
                  "normalization" (summary line), "normalization_settings" {name, scale, offset, formula},
                  "held_in_memory", "skipped_files" [{path, reason}], "notes"},
      "versions": {"python", "numpy", "tensorflow", "tf_keras", "tensorflow_model_optimization",
                   "ai_edge_litert", "onnx", "onnxruntime", "tf2onnx"},
      "host": {"cpu", "cores", "machine", "os", "python"},
      "target": {"name": "host", "kind": "host", "facts": {...device facts...}},
      "stages": [{"stage": "train", "seconds": 12.3, "info": {...stage-specific...}}, ...],
      "keras": {"accuracy": 0.91, "params": 123456},
      "timing_floor_ms": {"mean", "std", "min", "max", "p50", "p90", "p99"} | null,
      "artifacts": [
        {
          "name": "model_int8.tflite",
          "format": "tflite" | "onnx",
          "precision": "float32" | "int8" | ...,
          "path": "artifacts/model_int8.tflite",          # relative to run_dir
          "status": "ok" | "parity_failed" | "failed",
          "error": null | "why it failed",
          "size_bytes": 123, "gzip_bytes": 100, "params": 123456,
          "accuracy": 0.905, "accuracy_samples": 10000,  # measured through the artifact itself
          "accuracy_source": "target" | "host",          # where accuracy was measured
          "latency_ms": {"mean", "std", "min", "max", "p50", "p90", "p99"},
          "latencies_ms": [...every timed single-image run...],
          "runs": 200, "init_ms": 3.2, "peak_rss_mb": 80.1, "rss_before_load_mb": 70.0,
          "runtime": {"name": "ai_edge_litert", "version": "2.3.0"},
          "acc_per_mb": 0.9,     # accuracy (0..1) / (size_bytes / 1e6)
          "acc_per_ms": 1.2,     # accuracy (0..1) / latency p50 in ms
          "parity": {"samples", "top1_agreement", "max_abs_diff", "mean_abs_diff",
                     "thresholds": {"min_top1_agreement", "max_abs_diff"}, "passed"},
          "vs_float32": {"size_ratio", "gzip_ratio", "latency_p50_ratio", "accuracy_delta"} | null
        }
      ]
    }

Each artifact entry is `edgecomp.records.ArtifactRecord.to_dict()` plus the derived acc/MB, acc/ms
and vs_float32; keys a run did not produce are absent (`role`, `export_seconds`, `sparsity`,
`quant_debug`, `float_fallback_tensors`, `model_card`, `tflite_runtime_2_14`, target notes such as
`temperature_c_before`), and a failed artifact has no measured numbers.

Numbers in a report are measured in the run that wrote it; nothing is copied from a cache
except the trained teacher's weights, and the report says so in the train stage's info.
"""

SCHEMA_VERSION = 1
ARTIFACT_STATUSES = ("ok", "parity_failed", "failed")
STATUS_LEGEND = {
    "ok": "exported, parity with Keras checked, benchmarked",
    "parity_failed": "exported and benchmarked, but its outputs disagree with the Keras model",
    "failed": "export or benchmark failed; see the reason",
}
