"""The precision side of `edgecomp.run.artifacts`: which model each recipe is exported from, the
exporter each recipe's `kind` names, int8 debugging, model cards and the tflite-runtime check.

After a `qat` stage, `ctx.model` is the QAT model and `ctx.export_inputs.float_model` the model
before QAT: a recipe that is not post-training (`qat_int8`) comes from the QAT model, every other
artifact from the float model, and parity compares each artifact with the model it was exported from.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from edgecomp.core.errors import EdgecompError
from edgecomp.core.progress import step
from edgecomp.core.records import ArtifactRecord
from edgecomp.core.registry import Registry
from edgecomp.exporters.edge_quantizer import (
    Override,
    auto_mixed_precision,
    build_recipe,
    layer_precisions,
    left_float,
    precision_summary,
    tflite_to_quantized,
)
from edgecomp.exporters.modelcard import write_model_card
from edgecomp.exporters.onnx import keras_to_onnx
from edgecomp.exporters.onnx_quant import onnx_to_onnx_int8
from edgecomp.exporters.qdebug import debug_accuracy_drop, keras_to_tflite_selective_int8
from edgecomp.exporters.tflite import keras_to_tflite
from edgecomp.exporters.tflite_runtime_check import check_artifacts
from edgecomp.plan.precisions import BASELINE_PRECISION, PRECISIONS

if TYPE_CHECKING:
    from edgecomp.compress.context import RunContext


def export_source_model(ctx: RunContext, precision: str):
    """The Keras model an artifact of `precision` is converted from: the QAT model for a recipe
    that is not post-training, else the float model."""
    float_model = ctx.export_inputs.float_model
    if not PRECISIONS.get(precision).post_training or float_model is None:
        return ctx.model
    return float_model

def calibration_images(ctx: RunContext, precision: str = "int8") -> np.ndarray:
    """Normalised training images (N, H, W, C) the converters calibrate on (never test images).

    For a recipe whose input is the raw pixel (`uint8_io`) one more image holds a black and a white
    pixel: the input's calibrated range is then exactly what pixels 0 and 255 normalise to, so its
    uint8 scale and zero point make the uint8 input the raw pixel (checked by
    `normalization.check_uint8_io` when the plan is read).
    """
    images = ctx.data.images("train", ctx.export_inputs.calibration_samples)
    if not PRECISIONS.get(precision).raw_pixel_input or not len(images):
        return images
    extremes = ctx.data.pixels("train", 1).copy()  # (1, H, W, C) uint8
    extremes[0, 0, 0, :], extremes[0, -1, -1, :] = 0, 255
    return np.concatenate([images, ctx.data.normalization.apply(extremes)])

# An exporter writes `record`'s file at `path`: (ctx, record, path) -> None.
Exporter = Callable[["RunContext", ArtifactRecord, Path], None]
# By the recipe's `kind` (edgecomp.plan.precisions.ExporterKind): who writes its `.tflite`.
TFLITE_EXPORTERS: Registry[Exporter] = Registry("TFLite exporter kind")
# By the recipe's `onnx`: how its `.onnx` is made.
ONNX_EXPORTERS: Registry[Exporter] = Registry("ONNX exporter kind")


@TFLITE_EXPORTERS.register("converter")
def _tflite_by_converter(ctx: RunContext, record: ArtifactRecord, path: Path) -> None:
    recipe = PRECISIONS.get(record.precision)
    # Unstructured pruning's zeros are stored sparsely where the recipe allows, so the raw file shrinks too.
    keras_to_tflite(export_source_model(ctx, recipe.name), path, recipe.name,
                    calibration_images=calibration_images(ctx, recipe.name),
                    sparse_weights=ctx.export_inputs.pruned and recipe.sparse_weights)

@TFLITE_EXPORTERS.register("selective_int8")
def _tflite_selective_int8(ctx: RunContext, record: ArtifactRecord, path: Path) -> None:
    """int8 with the worst-quantized layers kept float; records which tensors stayed float."""
    # The debugger runs the float and quantized models side by side: a few dozen images do.
    _, record.float_fallback_tensors = keras_to_tflite_selective_int8(
        export_source_model(ctx, record.precision), path, calibration_images(ctx, record.precision)[:64],
        ctx.export_inputs.float_fallback_layers)

def _float_tflite(ctx: RunContext, precision: str, folder: Path) -> Path:
    """The float32 `.tflite` of the model a quantizer recipe starts from (a temporary file)."""
    return keras_to_tflite(export_source_model(ctx, precision), folder / "float32.tflite", BASELINE_PRECISION)


def _quantizer_overrides(ctx: RunContext) -> list[Override]:
    return [Override(o["precision"], o.get("layers"), tuple(o.get("ops") or ()))
            for o in ctx.export_inputs.quantizer_overrides]


def _layers_record(path: Path) -> dict:
    """What the file holds, layer by layer: the summary, and every layer whose weights stayed float."""
    layers = layer_precisions(path)
    return {"layers": precision_summary(layers), "left_float": [layer["name"] for layer in left_float(layers)]}


@TFLITE_EXPORTERS.register("edge_quantizer")
def _tflite_by_edge_quantizer(ctx: RunContext, record: ArtifactRecord, path: Path) -> None:
    """Google's AI Edge Quantizer on the float32 file, with the recipe's quantizer recipe and the plan's overrides."""
    recipe = PRECISIONS.get(record.precision)
    overrides = _quantizer_overrides(ctx)
    with tempfile.TemporaryDirectory(prefix="edgecomp-aeq-") as tmp:
        tflite_to_quantized(_float_tflite(ctx, recipe.name, Path(tmp)), path,
                            build_recipe(recipe.edge_quantizer, overrides), calibration_images(ctx, recipe.name))
    record.quantizer = {"recipe": recipe.edge_quantizer, "overrides": ctx.export_inputs.quantizer_overrides,
                        **_layers_record(path)}


@TFLITE_EXPORTERS.register("edge_quantizer_auto")
def _tflite_auto_mixed_precision(ctx: RunContext, record: ArtifactRecord, path: Path) -> None:
    """int8, the most sensitive layers raised to 16-bit activations until within `max_drop` of float32 on the
    validation split (edgecomp.exporters.edge_quantizer.auto_mixed_precision); every step measured."""
    with tempfile.TemporaryDirectory(prefix="edgecomp-aeq-") as tmp:
        search = auto_mixed_precision(_float_tflite(ctx, record.precision, Path(tmp)), path,
                                      calibration_images(ctx, record.precision), ctx.data.images("val"),
                                      ctx.data.labels("val"), ctx.export_inputs.auto_max_drop)
    step(f"auto: {len(search['steps'])} steps, {search['steps'][-1]['accuracy']:.2f}% on validation "
         f"(float32 {search['float_accuracy']:.2f}%, max_drop {search['max_drop']:g}) "
         f"{'met' if search['met'] else 'NOT met: every layer raised'}")
    record.quantizer = {"recipe": "auto", "auto": search, **_layers_record(path)}


@ONNX_EXPORTERS.register("float")
def _onnx_float(ctx: RunContext, record: ArtifactRecord, path: Path) -> None:
    keras_to_onnx(export_source_model(ctx, record.precision), path, ctx.plan.export.onnx_opset)

@ONNX_EXPORTERS.register("qdq")
def _onnx_qdq(ctx: RunContext, record: ArtifactRecord, path: Path) -> None:
    """Static int8 QDQ quantization of a float ONNX of this run's model (never a file an earlier
    run left in the folder)."""
    with tempfile.TemporaryDirectory(prefix="edgecomp-onnx-") as tmp:
        float_onnx = keras_to_onnx(export_source_model(ctx, BASELINE_PRECISION), Path(tmp) / "float.onnx",
                                   ctx.plan.export.onnx_opset)
        onnx_to_onnx_int8(float_onnx, path, calibration_images(ctx, record.precision))

def export_file(ctx: RunContext, record: ArtifactRecord, path: Path) -> None:
    """Writes `record`'s file with the exporter its recipe names for its format."""
    recipe = PRECISIONS.get(record.precision)
    if record.format == "onnx":
        ONNX_EXPORTERS.get(recipe.onnx)(ctx, record, path)
    else:
        TFLITE_EXPORTERS.get(recipe.kind)(ctx, record, path)

def debug_int8(ctx: RunContext, record: ArtifactRecord, path: Path, images: np.ndarray, source_model) -> None:
    """Sets `quant_debug` on an int8 record: its accuracy drop against `source_model` (the Keras model
    it was converted from), and the worst layers past the threshold."""
    if record.format != "tflite" or not PRECISIONS.get(record.precision).debug_accuracy:
        return

    labels = ctx.data.labels("test", len(images))
    try:
        result = debug_accuracy_drop(
            source_model, path, images, labels, calibration_images(ctx)[:64],
            ctx.export_inputs.debug_drop_points, ctx.export_inputs.debug_top_layers)
    except EdgecompError as err:  # the debugger is a diagnosis: its failure must not cost the build
        record.quant_debug = {"error": str(err)}
        return
    if result["worst_layers"]:
        names = ", ".join(f"{row['op_name']} {row['tensor_name'][:60]}" for row in result["worst_layers"][:3])
        step(f"{path.name} loses {result['drop_points']:.2f} points; largest quantization error: {names}")
    record.quant_debug = result

def describe_deployables(records: list[ArtifactRecord], run_dir: Path, data, write_cards: bool = True) -> None:
    """Writes a model card beside each exported artifact and checks `.tflite` files in tflite-runtime 2.14.

    `edgecomp bench` passes write_cards=False: it never writes beside files a user brings, and it
    does not know how their model was trained.
    """

    exported = [r for r in records if (run_dir / r.path).exists()]
    for record in exported if write_cards else []:
        card = write_model_card(run_dir / record.path, data, record)
        record.model_card = str(card.relative_to(run_dir))
    checks = check_artifacts([run_dir / r.path for r in exported])
    for record in exported:
        record.tflite_runtime_2_14 = checks.get(str(run_dir / record.path))
