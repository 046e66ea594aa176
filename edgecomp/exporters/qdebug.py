"""Quantization debugging: which layers lose the most to int8, and int8 with those layers float.

Uses `tf.lite.experimental.QuantizationDebugger`: it runs the float and the quantized model side
by side on calibration images and records, per quantized tensor, the error against the float
value. Layers are ranked by RMSE divided by the tensor's quantization scale (error in units of
one int8 step, the measure TensorFlow's debugger guide uses); selective float fallback passes
the worst ones as `denylisted_nodes`, so only those run in float.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Optional

import numpy as np

from edgecomp.core.errors import ExportError, first_line
from edgecomp.core.files import write_bytes_atomically
from edgecomp.core.tfenv import tf
from edgecomp.exporters.parity import run_tflite
from edgecomp.exporters.rejections import tflite_converter_errors
from edgecomp.exporters.tflite import representative_dataset


def _debugger(model, calibration_images: np.ndarray, denylisted_nodes: Optional[list[str]] = None):

    lite = tf().lite
    converter = lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(calibration_images)
    options = None
    if denylisted_nodes:
        options = lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(denylisted_nodes))
    try:
        return lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative_dataset(calibration_images),
            debug_options=options)
    except tflite_converter_errors() as err:  # the debugger converts the model when it is created
        raise ExportError(f"quantization debugger could not convert {model.name}: {first_line(err)}") from err

def layer_errors(model, calibration_images: np.ndarray, top_k: int = 5) -> list[dict]:
    """The `top_k` quantized tensors with the largest error, worst first.

    Args:
        model: the float Keras model.
        calibration_images: training images (N, H, W, C); a few dozen are enough.
        top_k: how many layers to return.

    Returns:
        One dict per tensor: tensor_name, op_name, rmse, scale, rmse_over_scale, mean_error.
    """
    debugger = _debugger(model, calibration_images)
    try:
        debugger.run()  # LiteRT runs the float and the quantized model: its rejections are the converter's kind
    except tflite_converter_errors() as err:
        raise ExportError(f"quantization debugger could not run {model.name}: {first_line(err)}") from err
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    rows = []
    for row in csv.DictReader(io.StringIO(buffer.getvalue())):
        scale = float(row.get("scale") or 0.0)
        rmse = math.sqrt(max(0.0, float(row.get("mean_squared_error") or 0.0)))
        rows.append({
            "tensor_name": row["tensor_name"], "op_name": row.get("op_name", ""),
            "rmse": rmse, "scale": scale, "rmse_over_scale": rmse / scale if scale else float("inf"),
            "mean_error": float(row.get("mean_error") or 0.0),
        })
    rows.sort(key=lambda r: r["rmse_over_scale"], reverse=True)
    return rows[:top_k]

def keras_to_tflite_selective_int8(model, path: Path, calibration_images: np.ndarray,
                                   float_layers: int = 3) -> tuple[Path, list[str]]:
    """int8 TFLite with the `float_layers` worst-quantized layers kept in float.

    Returns:
        The written path and the tensor names left float.

    Raises:
        ExportError: the debugger or converter failed.
    """
    worst = [row["tensor_name"] for row in layer_errors(model, calibration_images, top_k=float_layers)]
    debugger = _debugger(model, calibration_images, denylisted_nodes=worst)
    try:
        flatbuffer = debugger.get_nondebug_quantized_model()
    except tflite_converter_errors() as err:
        raise ExportError(f"selective int8 conversion of {model.name} failed: {first_line(err)}") from err
    return write_bytes_atomically(Path(path), flatbuffer), worst

def debug_accuracy_drop(model, artifact: Path, images: np.ndarray, labels: np.ndarray,
                        calibration_images: np.ndarray, threshold_points: float, top_k: int = 5) -> dict:
    """Accuracy of `artifact` vs the Keras model on `images`; the worst layers when it drops.

    Returns:
        keras and artifact accuracy (%), the drop in points, and `worst_layers` when the drop
        exceeds `threshold_points` (else an empty list).
    """

    keras_acc = 100 * float(np.mean(model.predict(images, batch_size=256, verbose=0).argmax(-1) == labels))
    artifact_acc = 100 * float(np.mean(run_tflite(artifact, images).argmax(-1) == labels))
    drop = keras_acc - artifact_acc
    result = {"samples": int(len(images)), "keras_accuracy": keras_acc, "artifact_accuracy": artifact_acc,
              "drop_points": drop, "threshold_points": threshold_points, "worst_layers": []}
    if drop > threshold_points:
        result["worst_layers"] = layer_errors(model, calibration_images, top_k)
    return result
