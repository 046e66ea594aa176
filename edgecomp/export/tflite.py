"""Keras -> TFLite for each precision, one converter recipe per precision."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edgecomp.core.errors import ExportError, first_line
from edgecomp.core.files import write_bytes_atomically
from edgecomp.core.registry import Registry
from edgecomp.core.tfenv import tf
from edgecomp.export.keras3 import is_keras3_model, keras3_converter
from edgecomp.export.rejections import tflite_converter_errors


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

def _dynamic(converter, images) -> None:
    """Dynamic-range: int8 weights, float activations quantized on the fly by the kernels."""
    converter.optimizations = [tf().lite.Optimize.DEFAULT]

def _float16(converter, images) -> None:
    """float16 weights (half the size); kernels dequantize them to float32 on CPU."""
    converter.optimizations = [tf().lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf().float16]

def _int8(converter, images) -> None:
    """Full-integer quantization, float input and output (the app feeds normalised floats)."""
    lite = tf().lite
    converter.optimizations = [lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(images)
    # Only int8 kernels: a layer that cannot be quantized fails the conversion loudly instead
    # of silently staying float.
    converter.target_spec.supported_ops = [lite.OpsSet.TFLITE_BUILTINS_INT8]

def _int8_io(converter, images) -> None:
    """Full-integer int8 with int8 input and output tensors (no float at the model's edges)."""
    _int8(converter, images)
    converter.inference_input_type = tf().int8
    converter.inference_output_type = tf().int8

def _uint8_io(converter, images) -> None:
    """Full-integer int8 with uint8 input/output. Calibrated on normalised images whose range is
    what pixels 0..255 normalise to (`quant_artifacts.calibration_images`), the input scale is the
    normalisation's scale and its zero point -offset/scale (unit: 1/255 and 0), so an app feeds raw
    0..255 pixels unchanged (see the model card); a plan whose normalisation has no such zero point
    is refused when read (`normalization.check_uint8_io`)."""
    _int8(converter, images)
    converter.inference_input_type = tf().uint8
    converter.inference_output_type = tf().uint8

def _int16x8(converter, images) -> None:
    """16x8: int16 activations, int8 weights (more accurate than int8, fewer runtimes support it)."""
    lite = tf().lite
    converter.optimizations = [lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(images)
    converter.target_spec.supported_ops = [
        lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]

def _qat_int8(converter, images) -> None:
    """A QAT model (fake-quant ranges learnt in training) to full int8, float I/O.

    The representative images fill in ranges for layers QAT left unquantized (fallbacks).
    """
    _int8(converter, images)

for _precision in [
    TflitePrecision("float32", False, _float32, "float32 weights and activations"),
    TflitePrecision("dynamic", False, _dynamic, "dynamic range: int8 weights, float activations"),
    TflitePrecision("float16", False, _float16, "float16 weights, float32 compute"),
    TflitePrecision("int8", True, _int8, "full integer int8, float32 input/output"),
    TflitePrecision("int8_io", True, _int8_io, "full integer int8, int8 input/output"),
    TflitePrecision("uint8_io", True, _uint8_io, "full integer int8, uint8 input/output (raw pixels)"),
    TflitePrecision("int16x8", True, _int16x8, "int16 activations, int8 weights, float32 input/output"),
    TflitePrecision("qat_int8", True, _qat_int8, "quantization-aware trained, full int8, float32 I/O"),
]:
    TFLITE_PRECISIONS.register(_precision.name)(_precision)

def representative_dataset(images: np.ndarray):
    """The calibration generator the converter calls: one (1, H, W, C) float32 image per step."""

    def generator():
        for image in images:
            yield [image[None, ...].astype(np.float32)]

    return generator

def keras_to_tflite(model, path: Path, precision: str = "float32",
                    calibration_images: Optional[np.ndarray] = None, sparse_weights: bool = False) -> Path:
    """Converts a Keras model to a `.tflite` file of the given precision.

    Args:
        model: a built Keras (tf_keras) model.
        path: where to write the file (written atomically).
        precision: a name in TFLITE_PRECISIONS.
        calibration_images: training images (N, H, W, C) for precisions that calibrate.
        sparse_weights: store pruned weights in TFLite's sparse format, so the zeros make the raw
            file smaller, not only its gzip (the runtime densifies them at load time).

    Raises:
        ExportError: the converter failed, or calibration images are missing.
    """
    spec = TFLITE_PRECISIONS.get(precision)
    if spec.needs_calibration and (calibration_images is None or len(calibration_images) == 0):
        raise ExportError(f"{precision} TFLite export needs calibration images from the training split.")

    # A Keras 3 model (one the tf-keras bridge could not rebuild) goes through a SavedModel.
    converting = keras3_converter(model) if is_keras3_model(model) else \
        contextlib.nullcontext(tf().lite.TFLiteConverter.from_keras_model(model))
    with converting as converter:
        spec.configure(converter, calibration_images)
        if sparse_weights:
            converter.optimizations = list(converter.optimizations or []) + [
                tf().lite.Optimize.EXPERIMENTAL_SPARSITY]
        # Only the converter's own rejections become an ExportError (a failed row); an error of
        # edgecomp's, e.g. in the calibration generator the converter calls, keeps its traceback.
        try:
            flatbuffer = converter.convert()
        except tflite_converter_errors() as err:
            raise ExportError(f"TFLite {precision} conversion of {model.name} failed: {first_line(err)}") from err
    return write_bytes_atomically(Path(path), flatbuffer)
