"""Real model files of every precision, exported once per session from the tiny trained model."""

from __future__ import annotations

import pytest

TFLITE_PRECISIONS = ["float32", "float16", "dynamic", "int8", "int8_io", "uint8_io"]


@pytest.fixture(scope="session")
def precision_files(tiny_model, fmnist_small, tmp_path_factory):
    """{label: path} for each TFLite precision, the float ONNX ("onnx_float32") and its QDQ int8 ("onnx_int8")."""
    from edgecomp.export.onnx import keras_to_onnx
    from edgecomp.export.onnx_quant import onnx_to_onnx_int8
    from edgecomp.export.tflite import keras_to_tflite

    folder = tmp_path_factory.mktemp("precisions")
    calibration = fmnist_small.x_train[:64]
    files = {p: keras_to_tflite(tiny_model, folder / f"tiny_{p}.tflite", p, calibration_images=calibration)
             for p in TFLITE_PRECISIONS}
    files["onnx_float32"] = keras_to_onnx(tiny_model, folder / "tiny_float32.onnx")
    files["onnx_int8"] = onnx_to_onnx_int8(files["onnx_float32"], folder / "tiny_int8.onnx", calibration)
    return files
