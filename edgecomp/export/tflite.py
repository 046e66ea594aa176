"""Keras -> TFLite for each precision, one converter recipe per precision."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edgecomp.errors import ExportError
from edgecomp.export.files import write_bytes_atomically
from edgecomp.registry import Registry
from edgecomp.tfenv import tf


@dataclass(frozen=True)
class TflitePrecision:
    """How the converter is set up for one precision (capabilities as data, checked up front)."""

    name: str
    needs_calibration: bool
    configure: Callable  # (converter, representative_images) -> None
    description: str


TFLITE_PRECISIONS: Registry[TflitePrecision] = Registry("TFLite precision")


def _float32(converter, images) -> None:
    pass


def _int8(converter, images) -> None:
    """Full-integer quantization, float input and output (the app feeds normalised floats)."""
    lite = tf().lite
    converter.optimizations = [lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(images)
    # Only int8 kernels: a layer that cannot be quantized fails the conversion loudly instead
    # of silently staying float.
    converter.target_spec.supported_ops = [lite.OpsSet.TFLITE_BUILTINS_INT8]


for _precision in [
    TflitePrecision("float32", False, _float32, "float32 weights and activations"),
    TflitePrecision("int8", True, _int8, "full integer int8, float32 input/output"),
]:
    TFLITE_PRECISIONS.register(_precision.name)(_precision)


def representative_dataset(images: np.ndarray):
    """The calibration generator the converter calls: one (1, H, W, C) float32 image per step."""

    def generator():
        for image in images:
            yield [image[None, ...].astype(np.float32)]

    return generator


def keras_to_tflite(model, path: Path, precision: str = "float32",
                    calibration_images: Optional[np.ndarray] = None) -> Path:
    """Converts a Keras model to a `.tflite` file of the given precision.

    Args:
        model: a built Keras (tf_keras) model.
        path: where to write the file (written atomically).
        precision: a name in TFLITE_PRECISIONS.
        calibration_images: training images (N, H, W, C) for precisions that calibrate.

    Raises:
        ExportError: the converter failed, or calibration images are missing.
    """
    spec = TFLITE_PRECISIONS.get(precision)
    if spec.needs_calibration and (calibration_images is None or len(calibration_images) == 0):
        raise ExportError(f"{precision} TFLite export needs calibration images from the training split.")
    converter = tf().lite.TFLiteConverter.from_keras_model(model)
    spec.configure(converter, calibration_images)
    try:
        flatbuffer = converter.convert()
    except Exception as err:  # noqa: BLE001 - the converter raises ConverterError, RuntimeError, ValueError...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExportError(f"TFLite {precision} conversion of {model.name} failed: {first[:400]}") from err
    return write_bytes_atomically(Path(path), flatbuffer)
