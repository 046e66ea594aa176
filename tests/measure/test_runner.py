"""The self-contained runner, run for real as a subprocess on real artifacts."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecomp.measure.runner import latency_stats
from edgecomp.plan.plan import BenchConfig
from edgecomp.targets.base import RUNNER_PATH
from edgecomp.targets.host import HostTarget

FAST = BenchConfig(warmup=2, min_runs=20, min_time_s=0.05)


def _this_process_rss_mb() -> float:
    """This test process's resident size (it holds TensorFlow and the trained model)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_latency_stats_match_numpy():
    values = [5.0, 1.0, 3.0, 2.0, 4.0, 10.0]
    stats = latency_stats(values)
    assert stats["p50"] == pytest.approx(np.percentile(values, 50))
    assert stats["p90"] == pytest.approx(np.percentile(values, 90))
    assert stats["p99"] == pytest.approx(np.percentile(values, 99))
    assert stats["std"] == pytest.approx(np.std(values))
    assert stats["min"] == 1.0 and stats["max"] == 10.0


def test_runner_measures_float_and_int8_tflite(tiny_model, tiny_tflite, sample_npz, fmnist_small):
    outcomes = HostTarget().bench([tiny_tflite["float32"], tiny_tflite["int8"]], sample_npz, FAST)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    keras_accuracy = float(np.mean(tiny_model.predict(fmnist_small.images("test", 200), verbose=0).argmax(-1)
                                   == fmnist_small.labels("test", 200)))
    float_result, int8_result = outcomes[0].result, outcomes[1].result
    assert float_result["accuracy"] == pytest.approx(keras_accuracy, abs=1e-9)
    assert abs(int8_result["accuracy"] - keras_accuracy) < 0.05
    assert float_result["accuracy_samples"] == 200
    for result in (float_result, int8_result):
        assert result["runs"] >= 20 and len(result["latencies_ms"]) == result["runs"]
        latency = result["latency_ms"]
        assert 0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
        assert result["init_ms"] > 0
        # Peak memory is this runner's own (VmHWM), not the TensorFlow parent's: a peak measured
        # after every RSS reading the runner took, and of its own size. The runner imports no
        # TensorFlow; a peak inherited from this process (ru_maxrss survives fork and exec) would be
        # this process's ~650 MB against the runner's ~40 MB.
        memory = result["memory"]
        assert 0 < memory["rss_before_mb"] <= memory["rss_after_load_mb"] <= result["process_peak_mb"]
        assert result["process_peak_mb"] < 2 * memory["rss_after_load_mb"] < _this_process_rss_mb()
        assert memory["method"] in ("proc_status+clear_refs", "proc_status")
        # The model's own footprint: a small model, far below the runner process it sits in.
        assert 0 <= result["model_load_mb"] <= result["model_peak_mb"] < result["process_peak_mb"]
        assert memory["rss_before_mb"] + result["model_peak_mb"] == pytest.approx(result["process_peak_mb"])
        assert result["runtime"]["name"] == "ai_edge_litert"


def test_runner_feeds_int8_inputs_quantized_with_the_models_scale(tiny_model, tmp_path, fmnist_small, sample_npz):
    """A model with int8 input must be fed round(x / scale + zero_point), not raw floats."""
    from edgecomp.core.tfenv import tf
    from edgecomp.exporters.tflite import representative_dataset

    converter = tf().lite.TFLiteConverter.from_keras_model(tiny_model)
    converter.optimizations = [tf().lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(fmnist_small.images("train", 100))
    converter.target_spec.supported_ops = [tf().lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf().int8
    path = tmp_path / "int8_io.tflite"
    path.write_bytes(converter.convert())
    outcome = HostTarget().bench([path], sample_npz, FAST)[0]
    assert outcome.ok, outcome.error
    assert outcome.result["io"]["input_dtype"] == "int8"
    keras_accuracy = float(np.mean(tiny_model.predict(fmnist_small.images("test", 200), verbose=0).argmax(-1)
                                   == fmnist_small.labels("test", 200)))
    assert abs(outcome.result["accuracy"] - keras_accuracy) < 0.05


def test_runner_on_onnx(tiny_model, tmp_path, sample_npz):
    from edgecomp.exporters.onnx import keras_to_onnx

    path = keras_to_onnx(tiny_model, tmp_path / "m.onnx")
    outcome = HostTarget().bench([path], sample_npz, FAST)[0]
    assert outcome.ok, outcome.error
    assert outcome.result["runtime"]["name"] == "onnxruntime"


def test_corrupt_model_is_a_failed_outcome_not_a_crash(tmp_path, sample_npz):
    bad = tmp_path / "corrupt.tflite"
    bad.write_bytes(b"\x00" * 100)
    outcome = HostTarget().bench([bad], sample_npz, FAST)[0]
    assert not outcome.ok
    assert "runner exited with code" in outcome.error


def test_runner_writes_result_only_when_complete(tiny_tflite, sample_npz, tmp_path):
    out = tmp_path / "result.json"
    command = [sys.executable, str(RUNNER_PATH), str(tiny_tflite["float32"]), "--sample", str(sample_npz),
               "--out", str(out), "--min-runs", "5", "--min-time", "0", "--warmup", "0"]
    subprocess.run(command, check=True, capture_output=True)
    assert json.loads(out.read_text())["runs"] == 5
    assert not (tmp_path / "result.json.partial").exists()


def test_runner_needs_no_edgecomp_import():
    """The runner is copied alone to devices: it must not import edgecomp."""
    import ast

    modules = set()
    for node in ast.walk(ast.parse(RUNNER_PATH.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
    assert "edgecomp" not in modules
    assert modules <= {"__future__", "argparse", "json", "os", "platform", "re", "resource", "sys", "time", "numpy",
                       "ai_edge_litert", "tflite_runtime", "tensorflow", "onnxruntime"}


def test_uint8_sample_gives_the_accuracy_of_the_float_images_exactly(precision_files, fmnist_small, tmp_path):
    """The sample travels as uint8 pixels; the runner's normalisation must reproduce the training floats."""
    from edgecomp.run.artifacts import write_sample

    uint8_sample = write_sample(fmnist_small, tmp_path / "uint8.npz", limit=None)
    with np.load(uint8_sample) as archive:
        assert archive["x"].dtype == np.uint8
    float_sample = tmp_path / "float.npz"
    np.savez(float_sample, x=fmnist_small.images("test"), y=fmnist_small.labels("test"))
    files = [precision_files[p] for p in ("float32", "int8", "uint8_io", "onnx_float32")]
    with_uint8 = HostTarget().bench(files, uint8_sample, FAST)
    with_float = HostTarget().bench(files, float_sample, FAST)
    for a, b in zip(with_uint8, with_float):
        assert a.ok and b.ok, (a.error, b.error)
        assert a.result["sample"]["dtype"] == "uint8" and b.result["sample"]["dtype"] == "float32"
        assert a.result["accuracy"] == b.result["accuracy"]


def test_a_missing_op_is_named_in_one_line():
    """The SSH target shows the last line of stderr: that line must name the op and its version."""
    from edgecomp.measure.runner import load_error_line

    err = RuntimeError("Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'. An older version of "
                       "this builtin might be supported. Are you using an old TFLite binary with a newer model?\n"
                       "Registration failed.\n")
    line = load_error_line("tflite_runtime", "2.14.0", err)
    assert "\n" not in line
    assert line == ("cannot load the model with tflite_runtime 2.14.0: tflite_runtime has no op FULLY_CONNECTED "
                    "version 12 (the file needs a newer runtime, or a conversion without it)")


def test_another_load_error_keeps_its_first_line():
    from edgecomp.measure.runner import load_error_line

    line = load_error_line("ai_edge_litert", "2.3.0", ValueError("Could not open 'x.tflite'.\nmore"))
    assert line == "cannot load the model with ai_edge_litert 2.3.0: ValueError: Could not open 'x.tflite'."


def test_no_xnnpack_loads_the_model_without_litert_default_delegate(tiny_tflite, sample_npz, tmp_path):
    """LiteRT announces on stderr each XNNPACK delegate it creates: it must appear by default and not
    with --no-xnnpack, while the same file gives the same predictions on the builtin kernels."""
    results = {}
    for label, extra in [("on", []), ("off", ["--no-xnnpack"])]:
        out = tmp_path / f"{label}.json"
        proc = subprocess.run([sys.executable, str(RUNNER_PATH), str(tiny_tflite["float32"]), "--sample",
                               str(sample_npz), "--out", str(out), "--warmup", "2", "--min-runs", "10",
                               "--min-time", "0.05"] + extra, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        results[label] = (json.loads(out.read_text()), "XNNPACK delegate" in proc.stderr)
    (on, xnnpack_created_on), (off, xnnpack_created_off) = results["on"], results["off"]
    assert on["xnnpack"] is True and xnnpack_created_on
    assert off["xnnpack"] is False and not xnnpack_created_off
    assert on["accuracy"] == off["accuracy"] and on["accuracy_samples"] == 200
