"""Keras -> TFLite for each precision, the converter set up by the precision's recipe
(edgecomp.plan.precisions)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import numpy as np

from edgecomp.core.errors import ExportError, UsageError, first_line
from edgecomp.core.files import write_bytes_atomically
from edgecomp.core.tfenv import tf
from edgecomp.exporters.keras3 import is_keras3_model, keras3_converter
from edgecomp.exporters.rejections import tflite_converter_errors
from edgecomp.plan.precisions import BASELINE_PRECISION, PRECISIONS, PrecisionRecipe


# The converter's names for a recipe's settings (edgecomp.plan.precisions.ConverterSettings).
def _ops_sets(lite) -> dict:
    return {"int8": [lite.OpsSet.TFLITE_BUILTINS_INT8],
            "int16x8": [lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]}


def configure_converter(converter, recipe: PrecisionRecipe, images: Optional[np.ndarray]) -> None:
    """Sets up a TFLite converter as `recipe` says: optimizations, weight type, kernels,
    calibration images and input/output types."""
    lite, settings = tf().lite, recipe.converter
    if settings.optimize:
        converter.optimizations = [lite.Optimize.DEFAULT]
    if settings.weight_type:
        converter.target_spec.supported_types = [getattr(tf(), settings.weight_type)]
    if settings.kernels:
        converter.target_spec.supported_ops = _ops_sets(lite)[settings.kernels]
    if settings.calibrate:
        converter.representative_dataset = representative_dataset(images)
    if recipe.input_type != "float32":
        converter.inference_input_type = getattr(tf(), recipe.input_type)
    if recipe.output_type != "float32":
        converter.inference_output_type = getattr(tf(), recipe.output_type)

def representative_dataset(images: np.ndarray):
    """The calibration generator the converter calls: one (1, H, W, C) float32 image per step."""

    def generator():
        for image in images:
            yield [image[None, ...].astype(np.float32)]

    return generator

def keras_to_tflite(model, path: Path, precision: str = BASELINE_PRECISION,
                    calibration_images: Optional[np.ndarray] = None, sparse_weights: bool = False) -> Path:
    """Converts a Keras model to a `.tflite` file of the given precision.

    Args:
        model: a built Keras (tf_keras) model.
        path: where to write the file (written atomically).
        precision: a recipe name in edgecomp.plan.precisions.PRECISIONS (its converter settings).
        calibration_images: training images (N, H, W, C) for precisions that calibrate.
        sparse_weights: store pruned weights in TFLite's sparse format, so the zeros make the raw
            file smaller, not only its gzip (the runtime densifies them at load time).

    Raises:
        ExportError: the converter failed, or calibration images are missing.
        UsageError: `precision` is not a registered recipe (the message suggests the closest), or
            is made by another exporter than the converter.
    """
    recipe = PRECISIONS.get(precision)
    if recipe.kind != "converter":
        raise UsageError(f"precision {precision!r} is not made by the TFLite converter (its exporter is "
                         f"{recipe.kind!r}: edgecomp.run.quant_artifacts.TFLITE_EXPORTERS)")
    if recipe.converter.calibrate and (calibration_images is None or len(calibration_images) == 0):
        raise ExportError(f"{precision} TFLite export needs calibration images from the training split.")

    # A Keras 3 model (one the tf-keras bridge could not rebuild) goes through a SavedModel.
    converting = keras3_converter(model) if is_keras3_model(model) else \
        contextlib.nullcontext(tf().lite.TFLiteConverter.from_keras_model(model))
    with converting as converter:
        configure_converter(converter, recipe, calibration_images)
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
