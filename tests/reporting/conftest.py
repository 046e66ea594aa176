"""report.json documents around hand-made artifact records, with realistic numbers.

The records (`ArtifactRecord`, `Measurement`) are made here; their report entries (acc/MB, acc/ms,
the ratios against each format's float32 file) and the artifact to ship come from the build's own
`report.assemble.artifact_entries` and `report.recommend.recommend`, so every renderer test runs on
the numbers a build would write. The numbers resemble a default build (cnn-teacher on Fashion-MNIST,
host target, 1 thread): a float32 and an int8 .tflite (ok), a float32 .onnx whose parity check
failed, and an int8 .onnx that failed.
"""

from __future__ import annotations

import copy
import json
import random
import statistics

import pytest

from edgecomp.core.records import ArtifactRecord, Measurement
from edgecomp.reporting.assemble import artifact_entries
from edgecomp.reporting.recommend import recommend
from edgecomp.reporting.schema import SCHEMA_VERSION


def latency_samples(p50_ms: float, runs: int = 200, seed: int = 0) -> list[float]:
    """Single-image latencies with a realistic right tail around `p50_ms`."""
    rng = random.Random(seed)
    return [round(p50_ms * rng.lognormvariate(0.0, 0.08) + (p50_ms * 2 if rng.random() < 0.02 else 0), 4)
            for _ in range(runs)]


def latency_stats(latencies: list[float]) -> dict:
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]

    return {"mean": statistics.fmean(ordered), "std": statistics.pstdev(ordered), "min": ordered[0],
            "max": ordered[-1], "p50": pct(50), "p90": pct(90), "p99": pct(99)}


def measured_artifact(name: str, fmt: str, precision: str, size_bytes: int, gzip_bytes: int, accuracy: float,
                      p50_ms: float, model_peak_mb: float, seed: int, status: str = "ok",
                      error: str | None = None, parity: dict | None = None) -> ArtifactRecord:
    """An exported and benchmarked artifact, as the build records it."""
    latencies = latency_samples(p50_ms, seed=seed)
    runtime = {"name": "ai_edge_litert", "version": "2.3.0"} if fmt == "tflite" else \
        {"name": "onnxruntime", "version": "1.22.0"}
    measurement = Measurement(
        accuracy=accuracy, accuracy_samples=10_000, accuracy_source="target", latency_ms=latency_stats(latencies),
        latencies_ms=latencies, runs=len(latencies), init_ms=3.1, model_load_mb=model_peak_mb / 2,
        model_peak_mb=model_peak_mb, process_peak_mb=model_peak_mb + 40.0,
        memory={"method": "clear_refs"}, runtime=runtime,
        io={"input_dtype": "float32", "input_shape": [1, 28, 28, 1]}, threads=1)
    return ArtifactRecord(
        name=name, format=fmt, precision=precision, path=f"artifacts/{name}", params=482_730, status=status,
        error=error, size_bytes=size_bytes, gzip_bytes=gzip_bytes, measurement=measurement,
        parity=parity or {"samples": 500, "top1_agreement": 1.0, "max_abs_diff": 2.1e-5, "mean_abs_diff": 3.4e-6,
                          "thresholds": {"min_top1_agreement": 0.99, "max_abs_diff": 1e-3}, "passed": True})


def failed_artifact(name: str, fmt: str, precision: str, error: str) -> ArtifactRecord:
    """An artifact whose export failed: no file, nothing measured."""
    return ArtifactRecord(name=name, format=fmt, precision=precision, path=f"artifacts/{name}", status="failed",
                          error=error)


def make_report(name: str, artifacts: list[ArtifactRecord], run_dir: str = "/runs/build") -> dict:
    """A report.json document around `artifacts`, whose entries (acc/MB, acc/ms, the ratios against
    float32) and `recommended` are worked out by the build's own functions."""
    report = {
        "schema_version": SCHEMA_VERSION, "edgecomp_version": "0.1.0", "created": "2026-11-24T12:00:00+00:00",
        "command": f"edgecomp build --target host --out {run_dir}", "run_dir": run_dir, "wall_seconds": 143.2,
        "plan": {"name": name, "model": "cnn-teacher",
                 "dataset": {"name": "fashion_mnist", "val_fraction": 0.1, "train_limit": None, "test_limit": None},
                 "seed": 0, "stages": [{"stage": "train", "epochs": 3}, {"stage": "quantize", "mode": "int8"}],
                 "export": {"formats": ["tflite", "onnx"], "onnx_opset": 13, "parity_samples": 500},
                 "bench": {"threads": 1, "warmup": 20, "min_runs": 200, "min_time_s": 2.0, "max_runs": 20000,
                           "accuracy_samples": None, "timeout_s": 600}},
        "dataset": {"name": "fashion_mnist", "source": "/usr/share/datasets/fashion-mnist", "input_shape": [28, 28, 1],
                    "num_classes": 10, "class_names": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
                    "train": 54000, "val": 6000, "test": 10000,
                    "normalization": "x * 0.00392157 + 0.0 (uint8 pixels to [0, 1])"},
        "versions": {"python": "3.11.7", "numpy": "2.1.3", "tensorflow": "2.21.0", "tf_keras": "2.21.0",
                     "tensorflow-model-optimization": "0.8.1", "ai-edge-litert": "2.3.0", "onnx": "1.19.0",
                     "onnxruntime": "1.22.0", "tf2onnx": "1.17.0", "typer": "0.29.2"},
        "host": {"kind": "host", "cpu": "AMD EPYC 7B13", "cores": 2, "machine": "x86_64",
                 "os": "Linux-6.1.0-x86_64-with-glibc2.36", "python": "3.11.7"},
        "target": {"name": "host", "kind": "host", "facts": {"cpu": "AMD EPYC 7B13", "cores": 2}},
        "stages": [{"stage": "train", "seconds": 98.4, "info": {"epochs": 3, "cached": False,
                                                                 "history": {"loss": [0.6, 0.4, 0.3]}}},
                   {"stage": "quantize", "seconds": 6.2, "info": {"mode": "int8", "calibration_samples": 500}},
                   {"stage": "export", "seconds": 11.8, "info": {"formats": ["tflite", "onnx"]}},
                   {"stage": "bench", "seconds": 24.9, "info": {"runs": 200}}],
        "keras": {"accuracy": 0.9114, "params": 482_730},
        "timing_floor_ms": latency_stats(latency_samples(0.012, seed=99)),
        "gates": {},
        "artifacts": artifact_entries(artifacts),
    }
    report["recommended"] = recommend(report)
    return report


def build_artifacts() -> list[ArtifactRecord]:
    parity_failed = {"samples": 500, "top1_agreement": 0.988, "max_abs_diff": 0.0041, "mean_abs_diff": 2.2e-4,
                     "thresholds": {"min_top1_agreement": 0.99, "max_abs_diff": 1e-3}, "passed": False}
    return [
        measured_artifact("model_float32.tflite", "tflite", "float32", 1_931_264, 1_786_112, 0.9112, 0.412, 84.2, 1),
        measured_artifact("model_int8.tflite", "tflite", "int8", 498_320, 402_117, 0.9098, 0.187, 78.9, 2),
        measured_artifact("model_float32.onnx", "onnx", "float32", 1_935_010, 1_790_433, 0.9105, 0.298, 96.4, 3,
                          status="parity_failed", parity=parity_failed,
                          error="outputs disagree with Keras: top-1 agreement 0.9880 < 0.99, "
                                "max |diff| 0.0041 > 0.001"),
        failed_artifact("model_int8.onnx", "onnx", "int8",
                        "onnxruntime: Could not find an implementation for ConvInteger(10) node"),
    ]


@pytest.fixture()
def build_report() -> dict:
    """A default build: float32 + int8 .tflite ok, float32 .onnx parity_failed, int8 .onnx failed."""
    return make_report("build", build_artifacts())


@pytest.fixture()
def pruned_report() -> dict:
    """A second run: 50 % pruned then int8; smaller only once gzipped, a little slower and less accurate (dominated)."""
    return make_report("pruned", [
        measured_artifact("model_float32.tflite", "tflite", "float32", 1_931_264, 905_331, 0.9087, 0.430, 84.0, 11),
        measured_artifact("model_int8.tflite", "tflite", "int8", 498_320, 231_870, 0.9071, 0.195, 78.8, 12),
    ], run_dir="/runs/pruned")


def write_run(folder, report: dict):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report, indent=2))
    return folder


@pytest.fixture()
def build_run_dir(tmp_path, build_report):
    """A run folder holding the build report's report.json."""
    return write_run(tmp_path / "build", copy.deepcopy(build_report))


@pytest.fixture()
def pruned_run_dir(tmp_path, pruned_report):
    return write_run(tmp_path / "pruned", copy.deepcopy(pruned_report))


def measured_on_fewer_images(report: dict, images: int = 1_000) -> dict:
    """The same report as if its test split and accuracy had `images` images (e.g. `test_limit`)."""
    report["dataset"]["test"] = images
    for artifact in report["artifacts"]:
        artifact["accuracy_samples"] = images
    return report


@pytest.fixture()
def pruned_report_1000(pruned_report) -> dict:
    """The pruned run measured on a 1,000-image test split (accuracy on 1,000 images, not 10,000)."""
    return measured_on_fewer_images(pruned_report)
