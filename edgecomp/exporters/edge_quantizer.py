"""float32 `.tflite` -> quantized `.tflite` through Google's AI Edge Quantizer (the `quantize` extra).

The TFLite converter quantizes from Keras with one int8 recipe family; the AI Edge Quantizer works on
the float `.tflite` itself with recipes that the converter has no equivalent for: 16-bit activations
with 8-bit weights, 4-bit weights, and per-layer overrides (a recipe is a list of
`{regex, operation, algorithm_key, op_config}` entries, later entries overriding earlier ones, ops
matched by their output tensor's name). What a recipe really did is read back from the file
(`layer_precisions`): never assumed from its name.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgecomp.core.errors import ExportError, UsageError
from edgecomp.exporters.parity import run_tflite
from edgecomp.measure.modelfile import read_tflite
from edgecomp.plan.stage_settings import override_problem

# edgecomp's name -> the quantizer's recipe function (ai_edge_quantizer.recipe) and what it does.
RECIPES = {
    "a8w8": ("static_wi8_ai8", "static int8 activations and int8 weights (the quantizer's, beside the converter's int8)"),
    "a16w8": ("static_wi8_ai16", "16-bit activations, int8 weights: closer to float than int8, twice the activations"),
    "w4": ("weight_only_wi4_afp32", "4-bit weights dequantized to float before each op: smallest file, float compute"),
    "dynamic_w4": ("dynamic_wi4_afp32", "4-bit weights, float activations quantized on the fly by the kernels"),
}
INSTALL_HINT = "pip install 'edgecomp[quantize]' (it installs ai-edge-quantizer)"


@dataclass(frozen=True)
class Override:
    """One per-layer override: layers whose output tensor name matches `layers` (a regex), or ops of
    the types in `ops` (TFLite names such as FULLY_CONNECTED), get `precision`."""

    precision: str
    layers: Optional[str] = None
    ops: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problem = override_problem(self.precision, self.layers, self.ops)  # the plan's own check
        if problem:
            raise UsageError(problem)


def quantizer_installed() -> bool:
    """Whether the `quantize` extra is installed (its per-layer validation is optional in a run)."""
    import importlib.util

    return importlib.util.find_spec("ai_edge_quantizer") is not None


def quantizer_module():
    """`ai_edge_quantizer`, or a UsageError saying how to install it."""
    try:
        import ai_edge_quantizer
    except ImportError:
        raise UsageError(f"the AI Edge Quantizer recipes need the `quantize` extra: {INSTALL_HINT}") from None
    return ai_edge_quantizer


def base_recipe(precision: str) -> list[dict]:
    """The quantizer's built-in recipe for one of `RECIPES` (a list of entries)."""
    if precision not in RECIPES:
        raise UsageError(f"{precision!r} is not an AI Edge Quantizer recipe; choose from {', '.join(RECIPES)}")
    recipe_module = quantizer_module().recipe
    return [dict(entry) for entry in getattr(recipe_module, RECIPES[precision][0])()]


def build_recipe(precision: str, overrides: Sequence[Override] = ()) -> list[dict]:
    """The recipe for `precision` with `overrides` appended in order (the quantizer lets later entries win)."""
    entries = base_recipe(precision)
    for override in overrides:
        if override.precision == "float":
            algorithm_key, op_config = "no_quantize", {}
        else:
            template = base_recipe(override.precision)[0]
            algorithm_key, op_config = template["algorithm_key"], template["op_config"]
        # The quantizer matches `regex` against each op's output tensor names, which the converter
        # names after the Keras layer ("model/block_1_conv/Conv2D;..."): a layer-name regex is searched.
        regex = f".*(?:{override.layers}).*" if override.layers is not None else ".*"
        for operation in override.ops or ("*",):
            entries.append({"regex": regex, "operation": operation, "algorithm_key": algorithm_key,
                            "op_config": op_config})
    return entries


def _signature_inputs(float_tflite: Path) -> tuple[str, str]:
    from ai_edge_litert.interpreter import Interpreter

    signatures = Interpreter(model_path=str(float_tflite)).get_signature_list()
    if len(signatures) != 1:
        raise ExportError(f"{float_tflite} has {len(signatures)} signatures; the quantizer path needs exactly one")
    (key, signature), = signatures.items()
    if len(signature["inputs"]) != 1:
        raise ExportError(f"{float_tflite} has {len(signature['inputs'])} inputs; edgecomp's models have one image")
    return key, signature["inputs"][0]


def tflite_to_quantized(float_tflite: Path, out: Path, recipe: list[dict],
                        calibration_images: Optional[np.ndarray]) -> Path:
    """Quantizes a float32 `.tflite` with a recipe; writes `out` atomically.

    Args:
        float_tflite: the float32 file (as `keras_to_tflite` writes it).
        out: the quantized file to write.
        recipe: quantizer recipe entries (`build_recipe`).
        calibration_images: (N, H, W, C) float32 images normalised as the model expects; needed by
            recipes with static (calibrated) activations.

    Returns:
        `out`.
    """
    aeq = quantizer_module()
    quantizer = aeq.quantizer.Quantizer(str(float_tflite), recipe)
    calibration = None
    if quantizer.need_calibration:
        if calibration_images is None or not len(calibration_images):
            raise UsageError("this recipe quantizes activations statically and needs calibration images")
        calibration = calibrate_min_max(float_tflite, recipe, calibration_images)
    result = quantizer.quantize(calibration, enable_progress_report=False)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(bytes(result.quantized_model))
    os.replace(partial, out)
    return out


def min_max_update(qsv: dict, new_qsv: dict) -> dict:
    """Merges one calibration image's ranges into the ranges so far: the smallest min and largest max."""
    if not qsv:
        return new_qsv
    return {**qsv, "min": np.minimum(qsv["min"], new_qsv["min"]), "max": np.maximum(qsv["max"], new_qsv["max"])}


def calibrate_min_max(float_tflite: Path, recipe: list[dict], calibration_images: np.ndarray) -> dict:
    """Each tensor's range over all `calibration_images`: {tensor name: {"min", "max"}} for `Quantizer.quantize`.

    The quantizer's own `calibrate` keeps a moving average of each image's min and max (smoothing 0.95,
    one image per step: our files take batch 1), so a range ends near the typical image's extremes and
    the images beyond it clip. On a cnn-tiny float file that clipping cost a16w8 and a8w8 ~12 dB output
    SNR against the float file, where the converter's int8 (min and max over the images) kept 38 dB; with
    16-bit activations the extra resolution is then wasted. Here the ranges are the min and max over every
    image, as the TFLite converter takes them, through the quantizer's own Calibrator.
    """
    aeq = quantizer_module()
    manager = aeq.recipe_manager.RecipeManager()
    manager.load_quantization_recipe(recipe)
    signature, input_name = _signature_inputs(float_tflite)
    samples = [{input_name: image[None].astype(np.float32)} for image in calibration_images]
    calibrator = aeq.calibrator.Calibrator(Path(float_tflite).read_bytes(), num_threads=2,
                                           qsv_update_func=min_max_update)
    calibrator.calibrate({signature: samples}, manager)
    return calibrator.get_model_qsvs()


_FLOAT = {"float32", "float16"}
# Constant inputs that are operands (axes, shapes, paddings), not weights.
_INDEX_TYPES = {"int32", "int64"}


def _weight_input(graph, op, stored_as: dict) -> Optional[str]:
    """The dtype its weights are stored in (through a DEQUANTIZE if expanded before the op), or None."""
    for index in op.inputs[1:2]:
        dtype = stored_as.get(index, graph.tensors[index].dtype)
        if (graph.tensors[index].is_constant or index in stored_as) and dtype not in _INDEX_TYPES:
            return dtype
    return None


def layer_precisions(path: Path) -> list[dict]:
    """What each op of a `.tflite` computes in, read from its tensors' types.

    Returns:
        One dict per op, in execution order: `op` (type), `name` (its first output tensor's name),
        `weights` (the dtype of its constant inputs as stored, through a DEQUANTIZE when the weights
        are stored quantized and expanded before the op), `activations` (its first input's dtype).
    """
    graph = read_tflite(Path(path))
    stored_as = {}  # a DEQUANTIZE's float output -> the quantized constant it expands
    for op in graph.ops:
        if op.name == "DEQUANTIZE" and op.inputs and graph.tensors[op.inputs[0]].is_constant:
            stored_as[op.outputs[0]] = graph.tensors[op.inputs[0]].dtype
    layers = []
    for op in graph.ops:
        if op.name in ("DEQUANTIZE", "QUANTIZE") or not op.inputs:
            continue
        layers.append({"op": op.name, "name": graph.tensors[op.outputs[0]].name if op.outputs else "",
                       "activations": graph.tensors[op.inputs[0]].dtype,
                       "weights": _weight_input(graph, op, stored_as)})
    return layers


def left_float(layers: list[dict]) -> list[dict]:
    """The layers with weights that compute on float weights stored as float (what a recipe did not cover)."""
    return [layer for layer in layers if layer["weights"] in _FLOAT]


def precision_summary(layers: list[dict]) -> dict:
    """Counts of ops by (weights, activations) dtype, for the report: {"int4 weights / float32": 3, ...}."""
    counts: dict = {}
    for layer in layers:
        if layer["weights"] is None:
            continue
        key = f"{layer['weights']} weights / {layer['activations']} activations"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


SNR_CAP_DB = 100.0  # an exact tensor (a float input) has infinite SNR


def tensor_snr_db(float_tflite: Path, quantized: Path, images: np.ndarray) -> dict[str, float]:
    """Signal-to-noise ratio (dB, capped at `SNR_CAP_DB`) of every tensor of `quantized` against the float file, from the
    quantizer's own validation (`Quantizer.validate`, metric SNR) on `images`."""
    aeq = quantizer_module()
    signature, input_name = _signature_inputs(float_tflite)
    quantizer = aeq.quantizer.Quantizer(str(float_tflite), previous_quantized_model=str(quantized))
    samples = [{input_name: image[None].astype(np.float32)} for image in images]
    metric = aeq.utils.validation_utils.ValidationErrorMetric.SNR
    result = quantizer.validate({signature: samples}, error_metrics=[metric], use_xnnpack=True, num_threads=2)
    # The quantizer's SNR is a power ratio (signal power / noise power), 0 for an all-zero signal.
    return {name: min(10 * math.log10(max(float(values["snr"]), 1e-12)), SNR_CAP_DB)
            for name, values in result.get_all_tensor_results().items() if "snr" in values}


def rank_layers_by_added_noise(float_tflite: Path, quantized: Path, images: np.ndarray) -> list[dict]:
    """The layers with weights of `quantized`, the noisiest first: each layer's SNR loss (dB) from its
    input to its output, so that a layer is charged with the noise it adds, not with the noise it
    inherits from the layers before it (every tensor's SNR measured by the quantizer's validation).
    `input_from` names the op that writes the layer's input: the noise a layer adds comes from its
    input tensor's quantization as much as from its own, and that tensor is the other op's output."""
    snr = tensor_snr_db(float_tflite, quantized, images)
    graph = read_tflite(Path(quantized))
    producer = {out: graph.tensors[op.outputs[0]].name for op in graph.ops for out in op.outputs
                if op.name not in ("QUANTIZE", "DEQUANTIZE")}
    ranked = []
    for op in graph.ops:
        if _weight_input(graph, op, {}) is None or not op.outputs:
            continue
        name_in, name_out = graph.tensors[op.inputs[0]].name, graph.tensors[op.outputs[0]].name
        if name_out not in snr:
            continue
        snr_in, snr_out = snr.get(name_in, SNR_CAP_DB), snr[name_out]
        ranked.append({"name": name_out, "op": op.name, "snr_db": round(snr_out, 2),
                       "added_noise_db": round(snr_in - snr_out, 2), "input_from": producer.get(op.inputs[0])})
    return sorted(ranked, key=lambda layer: -layer["added_noise_db"])


def file_accuracy(path: Path, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy (%) of a `.tflite` file on `images` run in LiteRT."""
    return float(np.mean(np.argmax(run_tflite(path, images), axis=-1) == labels) * 100)


def auto_mixed_precision(float_tflite: Path, out: Path, calibration_images: np.ndarray, val_images: np.ndarray,
                         val_labels: np.ndarray, max_drop: float, group_size: int = 1,
                         rank_images: int = 32) -> dict:
    """All-int8 (`a8w8`), then the noisiest layers moved to 16-bit activations, `group_size` layers at a time
    (each with the op that writes its input; then
    to float, once every layer is 16-bit), until the file's accuracy on the validation images is within
    `max_drop` points of the float file's; the first file that is within is written to `out`.

    Every step is measured (accuracy on `val_images`, size), never estimated. The ranking is the SNR
    each layer loses (`rank_layers_by_added_noise`) in the all-int8 file, on `rank_images` calibration images.

    Returns:
        {"float_accuracy", "max_drop", "met", "steps": [{"moved" (names), "precision", "accuracy", "bytes"}],
         "layers": [{"name", "op", "precision", "added_noise_db"}]} for the report.
    """
    float_accuracy = file_accuracy(float_tflite, val_images, val_labels)
    overrides: list[Override] = []
    moved: list[str] = []
    steps = []
    ranked = None
    schedule = None
    while True:
        trial = out.with_name(out.stem + ".trial.tflite")
        tflite_to_quantized(float_tflite, trial, build_recipe("a8w8", overrides), calibration_images)
        accuracy = file_accuracy(trial, val_images, val_labels)
        steps.append({"moved": moved, "precision": overrides[-1].precision if overrides else "a8w8",
                      "accuracy": round(accuracy, 2), "bytes": trial.stat().st_size})
        if ranked is None:
            ranked = rank_layers_by_added_noise(float_tflite, trial, calibration_images[:rank_images])
            # a16w8 for every layer and the op writing its input (the tensor between them is where the
            # noise enters), noisiest first; then float in the same order.
            schedule = [[(name, precision) for name in filter(None, (layer["name"], layer["input_from"]))]
                        for precision in ("a16w8", "float") for layer in ranked]
        met = float_accuracy - accuracy <= max_drop
        if met or not schedule:
            os.replace(trial, out)
            break
        group = [move for layer_group in schedule[:group_size] for move in layer_group]
        schedule = schedule[group_size:]
        overrides = [o for o in overrides if o.layers not in {re.escape(name) for name, _ in group}]
        overrides += [Override(precision, layers=re.escape(name)) for name, precision in group]
        moved = [name for name, _ in group]
    final = {o.layers: o.precision for o in overrides}
    layers = [{"name": layer["name"], "op": layer["op"], "added_noise_db": layer["added_noise_db"],
               "precision": final.get(re.escape(layer["name"]), "a8w8")} for layer in ranked or []]
    layers += [{"name": name, "op": None, "added_noise_db": None, "precision": precision}  # ops without weights
               for name, precision in ((o.layers, o.precision) for o in overrides)
               if name not in {re.escape(layer["name"]) for layer in ranked or []}]
    return {"float_accuracy": round(float_accuracy, 2), "max_drop": max_drop, "met": met, "steps": steps,
            "layers": layers}
