#!/usr/bin/env python3
"""`edgecomp bench --op-profile` on the test suite's stand-in Android device: the README's sample per-op table.

    .venv/bin/python benchmarks/op_profile_standin/run.py

No phone is attached to the machine this runs on. The "device" is the loopback adb device of the tests
(tests/targets/adb_device.py, reached by the real adb server with `adb connect`), and its
"benchmark_model" is tests/targets/device_benchmark_model.py: it runs the model with this machine's
LiteRT and prints benchmark_model's output and op-profile tables, but its per-op times are the
measured run time APPORTIONED over the ops by multiply-accumulates, not measured per op. So the table
shows what the report looks like and where the numbers go, not how a phone spends its time.

A small untrained CNN (two convolutions, a pooling, a dense layer; 28x28x1 like Fashion-MNIST) is
converted to float32 and int8 .tflite, benchmarked with `--op-profile`, and the report's "Per-op
profile" section is written to results.md beside report.json.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's edgecomp, whichever is installed


def _test_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "targets" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _models(folder: Path) -> list[Path]:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import numpy as np
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    layers = tf_keras.layers
    model = tf_keras.Sequential([layers.Input((28, 28, 1)), layers.Conv2D(16, 3, activation="relu"),
                                 layers.MaxPooling2D(), layers.Conv2D(32, 3, activation="relu"),
                                 layers.Flatten(), layers.Dense(10)])
    float_path, int8_path = folder / "cnn_float32.tflite", folder / "cnn_int8.tflite"
    float_path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    calibration = np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    int8_path.write_bytes(converter.convert())
    return [float_path, int8_path]


def main() -> None:
    import yaml

    adb_device = _test_module("adb_device")
    with tempfile.TemporaryDirectory(prefix="edgecomp-standin-") as tmp, socket.socket() as probe:
        folder = Path(tmp)
        probe.bind(("127.0.0.1", 0))
        os.environ["ANDROID_ADB_SERVER_PORT"] = str(probe.getsockname()[1])  # a private adb server
        probe.close()
        device = adb_device.AdbDevice(folder / "device", {"ro.product.model": "Loopback stand-in",
                                                          "ro.product.cpu.abi": "arm64-v8a"})
        try:
            adb_device.adb_connect(device)
            binary = folder / "benchmark_model"
            stand_in = ROOT / "tests" / "targets" / "device_benchmark_model.py"
            binary.write_text(f"#!{sys.executable}\n" + stand_in.read_text())
            profile = folder / "stand-in-phone.yaml"
            profile.write_text(yaml.safe_dump({"name": "stand-in-phone", "kind": "adb", "adb": {
                "serial": device.serial, "benchmark_model": str(binary),
                "remote_dir": str(device.sandbox / "data/local/tmp/edgecomp")}}))
            out = folder / "out"
            command = [sys.executable, "-c", "from edgecomp.cli.main import app; app()", "bench",
                       *map(str, _models(folder)),
                       "--target", str(profile), "--op-profile", "--min-runs", "200", "--min-time", "1",
                       "--accuracy-samples", "200", "--out", str(out)]
            subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        finally:
            subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30)
            device.close()
        report = json.loads((out / "report.json").read_text())
        for artifact in report["artifacts"]:
            artifact.pop("latencies_ms", None)
        (HERE / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        section = (out / "report.md").read_text().split("## Per-op profile")[1].split("\n## ")[0]
        (HERE / "results.md").write_text(
            "# Per-op profile on the loopback stand-in device (not a phone)\n\n"
            "Written by `benchmarks/op_profile_standin/run.py`: `edgecomp bench --op-profile` through the real adb "
            "against the tests' stand-in device. Per-op times are the stand-in's apportioned figures (measured run "
            "time split over the ops by multiply-accumulates), not a per-op measurement.\n\n## Per-op profile"
            + section)


if __name__ == "__main__":
    main()
