"""float32 ONNX -> int8 ONNX with onnxruntime static quantization (QDQ format).

Calibrated on the same training images as the TFLite int8 exports (never test images); the
float file is first run through `quant_pre_process` (shape inference + graph optimisation),
which lets more ops be quantized.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from edgecomp.core.errors import ExportError, first_line
from edgecomp.exporters.rejections import onnxruntime_errors


class _ImageReader:
    """onnxruntime's CalibrationDataReader protocol: one {input_name: (1, H, W, C)} batch per call."""

    def __init__(self, input_name: str, images: np.ndarray):
        self.input_name = input_name
        self.images = images
        self.position = 0

    def get_next(self):
        if self.position >= len(self.images):
            return None
        batch = self.images[self.position][None, ...].astype(np.float32)
        self.position += 1
        return {self.input_name: batch}

    def rewind(self):
        self.position = 0


def onnx_to_onnx_int8(float_path: Path, path: Path, calibration_images: np.ndarray,
                      per_channel: bool = True) -> Path:
    """Quantizes a float32 `.onnx` to int8 QDQ (int8 weights per channel, int8 activations).

    Args:
        float_path: the float32 ONNX file (from `keras_to_onnx`).
        path: where to write the int8 file (written atomically).
        calibration_images: training images (N, H, W, C), float32 normalised like training.
        per_channel: per-output-channel weight scales (what TFLite int8 uses too).

    Raises:
        ExportError: no calibration images, or onnxruntime could not quantize the graph.
    """
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration_images is None or len(calibration_images) == 0:
        raise ExportError("ONNX int8 export needs calibration images from the training split.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="edgecomp-onnxq-") as workdir:
        prepared = Path(workdir) / "prepared.onnx"
        # onnxruntime's rejections are a failed row; an error in _ImageReader, which
        # quantize_static calls, is edgecomp's and keeps its traceback.
        try:
            session = onnxruntime.InferenceSession(str(float_path), providers=["CPUExecutionProvider"])
            input_name = session.get_inputs()[0].name
            quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared), str(tmp), _ImageReader(input_name, calibration_images),
                quant_format=QuantFormat.QDQ, per_channel=per_channel,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
        except onnxruntime_errors() as err:
            tmp.unlink(missing_ok=True)
            raise ExportError(f"ONNX int8 static quantization of {float_path} failed: {first_line(err)}") from err
    os.replace(tmp, path)
    return path
