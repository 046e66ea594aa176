"""The report.json schema (versioned). Everything else renders from this one document.

    {
      "schema_version": 3,
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
      "host": {"cpu", "cpu_features", "cores", "machine", "os", "python"},  # cpu_features: adapters.cpu_features
      "target": {"name": "host", "kind": "host", "facts": {...device facts...}},
      "stages": [{"stage": "train", "seconds": 12.3, "info": {...stage-specific...},
                  "finished": "2026-11-24T12:00:00+00:00",  # when the stage ended (in the run that ran it)
                  "cached": false,                  # true: restored from the stage cache, seconds as first measured
                  "cache_key": "ab12..." | null,    # its stage-cache entry (edgecomp.run.stage_cache)
                  "cache_skipped": "why not cached", "cache_write_seconds": 0.4}, ...],  # each when it applies
      "keras": {"accuracy": 0.91, "params": 123456},
      "timing_floor_ms": {"mean", "std", "min", "max", "p50", "p90", "p99"} | null,
      "gates": {"max_size_mb", "max_latency_ms", "min_accuracy", "scope"},  # as given; null = unbounded
      "warnings": [{"code", "message", "hint"}],  # sanity checks (edgecomp.models.sanity); [] when none
      "recommended": {"name": "model_qat_int8.tflite" | null, "rule": "gates" | "within_1pt", "reason": "..."},
      "artifacts": [
        {
          "name": "model_int8.tflite",
          "format": "tflite" | "onnx",
          "precision": "float32" | "int8" | ...,            # bench: read from the file and its model card
          "precision_read": {"from_file", "from_card", "source"} | {"error"},  # bench only
          "path": "artifacts/model_int8.tflite",          # relative to run_dir
          "status": "ok" | "parity_failed" | "failed",
          "outputs": "probabilities",                     # only when a softmax head was put back (else logits)
          "error": null | "why it failed",
          "size_bytes": 123, "gzip_bytes": 100, "params": 123456,
          "accuracy": 0.905, "accuracy_samples": 10000,  # measured through the artifact itself
          "accuracy_source": "target" | "host",          # where accuracy was measured
          "emulated": false,                             # true: latency and memory are an emulator's
          "host_accuracy", "host_runtime", "accuracy_vs_host_points", "host_error",  # emulated boards only
          "latency_ms": {"mean", "std", "min", "max", "p50", "p90", "p99"},
          "latencies_ms": [...every timed single-image run...],
          "runs": 200, "init_ms": 3.2,
          "model_load_mb": 0.4, "model_peak_mb": 0.6,   # the model's own RSS: after load / peak, minus before
          "process_peak_mb": 40.2,                      # the whole runner process's peak RSS
          "memory": {"method", "peak_reset", "rss_before_mb", "rss_after_load_mb", ...},
          "predicted_memory": {"weights_mb", "activations_mb", "total_mb", "method"},  # read from the file
          "runtime": {"name": "ai_edge_litert", "version": "2.3.0"},
          "acc_per_mb": 59.4,       # accuracy in percent / (size_bytes / 1e6)  (version 1: a fraction)
          "acc_per_gzip_mb": 64.2,  # accuracy in percent / (gzip_bytes / 1e6)  (new in version 2)
          "acc_per_ms": 573.0,      # accuracy in percent / latency p50 in ms   (version 1: a fraction)
          # edgecomp.exporters.parity: the recipe's rule (edgecomp.plan.precisions) on the test images;
          # accuracies and the drop (Keras minus file, with its paired 95% interval) are fractions.
          "parity": {"precision", "samples", "top1_agreement", "max_abs_diff", "mean_abs_diff",
                     "keras_accuracy", "file_accuracy", "accuracy_drop", "accuracy_drop_ci95": [low, high],
                     "only_keras_right", "only_file_right",
                     "thresholds": {"min_top1_agreement", "max_abs_diff", "max_accuracy_drop", "max_mean_abs_diff"},
                     "decided_by": "accuracy" | "top1_agreement" | "non_finite_outputs", "reason", "passed"},
          "vs_float32": {"size_ratio", "gzip_ratio", "latency_p50_ratio", "accuracy_delta"} | null,
          "target_notes": {"temperature_c_before", "temperature_c_after", "remote_cleanup_error", ...}
        }
      ]
    }

Each artifact entry is `edgecomp.core.records.ArtifactRecord.to_dict()` plus the derived efficiency
figures (`edgecomp.measure.metrics.efficiency`) and vs_float32; keys a run did not produce are absent (`role`,
`export_seconds`, `sparsity`, `quant_debug`, `float_fallback_tensors`, `model_card`, `tflite_runtime_2_14`,
`target_notes`, the host check of an emulated board), and a failed artifact has no measured numbers.
What a target only notes sits under `target_notes`: no note can replace a measured field.

`warnings` codes: near_chance (the train stage's model at or near chance on the first 500 test
images), artifact_near_chance, softmax_output, input_scaled_twice, input_statistics (the first
trained BatchNorm's input disagrees with its moving statistics). Reports written before it have none.

Numbers in a report are measured in the run that wrote it; nothing is copied from a cache
except the trained teacher's weights, and the report says so in the train stage's info.
"""

from edgecomp.measure.metrics import artifact_efficiency

# Version 2: acc_per_mb / acc_per_ms are accuracy in percent (version 1: a fraction, 100x smaller),
# acc_per_gzip_mb, `gates` and `recommended` are new. Version 3: a target's notes moved from the
# artifact's own keys into its `target_notes`, and every measured artifact says `emulated`.
# `upgrade()` reads versions 1 and 2.
SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
# The notes targets wrote as an artifact's own keys up to version 2 (edgecomp.targets ssh and adb).
VERSION_2_NOTE_KEYS = ("temperature_c_before", "temperature_c_after", "remote_cleanup_error", "accuracy_error")
ARTIFACT_STATUSES = ("ok", "parity_failed", "failed")
STATUS_LEGEND = {
    "ok": "exported, parity with Keras checked, benchmarked",
    "parity_failed": "exported and benchmarked, but its outputs disagree with the Keras model",
    "failed": "export or benchmark failed; see the reason",
}


def upgrade(report: dict) -> dict:
    """A report of any readable version as the current version (derived figures recomputed, in place).

    Version 1 stored acc/MB and acc/ms with accuracy as a fraction; they are recomputed from the
    measured accuracy, size and latency, so no measured number changes. `recommended` is left for
    the renderer to work out (`edgecomp.reporting.recommend`), since a version 1 report has no gates.
    Version 2 kept a target's notes among the artifact's keys; they move into `target_notes`.
    """

    version = report.get("schema_version")
    if version not in (1, 2):
        return report
    artifacts = [a for a in report.get("artifacts") or [] if isinstance(a, dict)]
    for artifact in artifacts:
        if version == 1:
            artifact.update(artifact_efficiency(artifact))
        _notes_under_their_key(artifact)
    report["schema_version"] = SCHEMA_VERSION
    report["upgraded_from"] = version
    return report


def _notes_under_their_key(artifact: dict) -> None:
    """A version 1 or 2 artifact entry's target notes into `target_notes`; `emulated` said on measured rows."""
    notes = {key: artifact.pop(key) for key in VERSION_2_NOTE_KEYS if key in artifact}
    if notes:
        artifact["target_notes"] = {**notes, **(artifact.get("target_notes") or {})}
    if artifact.get("latency_ms") is not None:  # measured; version 2 wrote `emulated` only when true
        artifact["emulated"] = artifact.get("emulated") is True
