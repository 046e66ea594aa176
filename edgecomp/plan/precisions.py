"""One typed recipe per precision, in one registry: how its file is made, what it is compared
with, and how closely it must agree.

Pure data (no TensorFlow): a plan is checked against these names when it is read, `edgecomp.measure`
reads a file's label against them, `edgecomp.exporters` applies the converter settings and the parity
rule, and `edgecomp.run` picks the exporter named by `kind`. Adding a precision is one entry below
(plus, for a new `kind`, its exporter in `edgecomp.run.quant_artifacts.TFLITE_EXPORTERS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from edgecomp.core.registry import Registry

# Which function writes a recipe's `.tflite` (edgecomp.run.quant_artifacts.TFLITE_EXPORTERS):
# "converter": the TFLite converter set up by `converter`; "selective_int8": the quantization
# debugger's int8 with the worst layers kept float. A quantizer other than the TFLite converter
# (e.g. AI Edge Quantizer) is a new kind with its own exporter.
# "edge_quantizer": Google's AI Edge Quantizer on the float32 `.tflite` with the recipe `edge_quantizer`
# names (edgecomp.exporters.edge_quantizer); "edge_quantizer_auto": its mixed precision searched layer by layer.
ExporterKind = Literal["converter", "selective_int8", "edge_quantizer", "edge_quantizer_auto"]
IoType = Literal["float32", "int8", "uint8", "int16"]


@dataclass(frozen=True)
class ConverterSettings:
    """How the TFLite converter is set up (applied by `edgecomp.exporters.tflite.keras_to_tflite`)."""

    optimize: bool = False  # converter.optimizations = [Optimize.DEFAULT]
    weight_type: Optional[Literal["float16"]] = None  # target_spec.supported_types
    # Only these kernels (target_spec.supported_ops): a layer that cannot be quantized then fails
    # the conversion loudly instead of silently staying float. None: the converter's default set.
    kernels: Optional[Literal["int8", "int16x8"]] = None
    calibrate: bool = False  # a representative dataset of training images sets activation ranges


@dataclass(frozen=True)
class ParityRule:
    """How closely an exported file must match the Keras model it came from (edgecomp.exporters.parity).

    With test labels and `max_accuracy_drop_points` set, the file is judged by what a user cares about: it
    fails when it is less accurate than its Keras model by more than `max_accuracy_drop_points` and
    the paired 95% confidence interval of that drop lies above 0 (a loss the images show, not
    chance), or when its mean output error passes `max_rel_mean_abs_diff`. Otherwise (float
    exports, or no labels) top-1 agreement and the largest output difference decide.
    """

    min_top1_agreement: float
    # Largest |export - keras| over the outputs, relative to the largest |keras output| (at least 1).
    max_rel_abs_diff: float
    max_accuracy_drop_points: Optional[float] = None  # None: agreement decides
    # Mean |export - keras| relative to the same scale: a file whose argmax is right and whose
    # scores are wrong (a wrong output scale) still fails.
    max_rel_mean_abs_diff: Optional[float] = None
    # A file of this precision must compute the same function: a failure is an error (exit 1), not a flag.
    failure_is_error: bool = False

    def __post_init__(self) -> None:
        if (self.max_accuracy_drop_points is None) != (self.max_rel_mean_abs_diff is None):
            raise ValueError("a parity rule judged by accuracy also bounds the mean output error, and back")


@dataclass(frozen=True)
class PrecisionRecipe:
    """One precision: how its file is made, from which model, and how it is checked."""

    name: str
    description: str  # the report's and the model card's words for it
    parity: ParityRule
    kind: ExporterKind = "converter"
    converter: ConverterSettings = field(default_factory=ConverterSettings)
    input_type: IoType = "float32"
    output_type: IoType = "float32"
    # False: converted from the QAT model (its fake-quant ranges); True: from the float model.
    post_training: bool = True
    quantize_mode: bool = False  # may be listed in a `quantize` stage's `modes`
    debug_accuracy: bool = False  # int8 accuracy drop debugged layer by layer (edgecomp.exporters.qdebug)
    # Pruned zeros stored in TFLite's sparse format. Float files only: XNNPACK fails to prepare
    # sparse int8 FULLY_CONNECTED weights, so such a file would not run on the device.
    sparse_weights: bool = False
    # The uint8 input is the raw 0..255 pixel: calibration adds a black and a white pixel so the
    # input's range is exactly what pixels 0 and 255 normalise to (edgecomp.data.normalization.check_uint8_io).
    raw_pixel_input: bool = False
    # An `.onnx` of this precision when the plan exports ONNX: "float" (tf2onnx) or "qdq" (static
    # int8 QDQ quantization of the float ONNX); None: TFLite only.
    onnx: Optional[Literal["float", "qdq"]] = None
    # Labels a file of this recipe may read as from its tensors (edgecomp.measure.precision) besides
    # its own name: a QAT int8 file is an int8 file, or int8_mixed when QAT left layers float.
    reads_as: tuple[str, ...] = ()
    # kind "edge_quantizer": the quantizer recipe (a key of edgecomp.exporters.edge_quantizer.RECIPES).
    edge_quantizer: Optional[str] = None

    @property
    def calibrates(self) -> bool:
        """Whether making the file needs calibration images (from the training split, never test)."""
        return self.converter.calibrate or self.kind in ("selective_int8", "edge_quantizer_auto") or \
            self.edge_quantizer in ("a8w8", "a16w8")

    @property
    def file_labels(self) -> tuple[str, ...]:
        """Every label a file of this recipe may read as."""
        return (self.name, *self.reads_as)


PRECISIONS: Registry[PrecisionRecipe] = Registry("precision")

_INT8 = ConverterSettings(optimize=True, kernels="int8", calibrate=True)
# Agreement and largest-difference bounds set from what each recipe reaches on the zoo models
# (benchmarks/quantization): float16 and 16x8 stay within a few percent of the logits' range, int8
# families within about half. Mean output error: the MobileNetV2 of benchmarks/user_models, whose
# int8 files are as accurate as its Keras model, measured 2.9% (PTQ) and 5.4% (QAT) of the logits'
# range (int8_parity_probe.json); the logits-shuffled exports of tests/export/test_parity_thresholds.py
# are off by far more. The accuracy limit is the 1 point the artifact to ship is chosen within.
_INT8_PARITY = ParityRule(min_top1_agreement=0.95, max_rel_abs_diff=0.5, max_accuracy_drop_points=1.0,
                          max_rel_mean_abs_diff=0.1)

for _recipe in [
    PrecisionRecipe("float32", "float32 weights and activations", sparse_weights=True, onnx="float",
                    parity=ParityRule(0.999, 1e-3, failure_is_error=True)),
    PrecisionRecipe("float16", "float16 weights, float32 compute", quantize_mode=True, sparse_weights=True,
                    converter=ConverterSettings(optimize=True, weight_type="float16"),
                    parity=ParityRule(0.99, 2e-2)),
    PrecisionRecipe("dynamic", "dynamic range: int8 weights, float activations", quantize_mode=True,
                    converter=ConverterSettings(optimize=True),
                    parity=ParityRule(0.97, 0.25, max_accuracy_drop_points=1.0, max_rel_mean_abs_diff=0.05)),
    PrecisionRecipe("int16x8", "int16 activations, int8 weights, float32 input/output", quantize_mode=True,
                    converter=ConverterSettings(optimize=True, kernels="int16x8", calibrate=True),
                    parity=ParityRule(0.98, 0.1, max_accuracy_drop_points=0.5, max_rel_mean_abs_diff=0.03)),
    PrecisionRecipe("int8", "full integer int8, float32 input/output", quantize_mode=True, debug_accuracy=True,
                    converter=_INT8, onnx="qdq", parity=_INT8_PARITY),
    PrecisionRecipe("int8_io", "full integer int8, int8 input/output", quantize_mode=True, debug_accuracy=True,
                    converter=_INT8, input_type="int8", output_type="int8", parity=_INT8_PARITY),
    PrecisionRecipe("uint8_io", "full integer int8, uint8 input/output (raw pixels)", quantize_mode=True,
                    debug_accuracy=True, converter=_INT8, input_type="uint8", output_type="uint8",
                    raw_pixel_input=True, parity=_INT8_PARITY),
    # Its worst layers kept float can only bring it closer to the float model than int8: int8's
    # accuracy bound, a tighter agreement and output error.
    PrecisionRecipe("int8_mixed", "int8 with the worst-quantized layers kept float, float32 input/output",
                    kind="selective_int8", converter=_INT8, reads_as=("int8",),
                    parity=ParityRule(0.96, 0.4, max_accuracy_drop_points=1.0, max_rel_mean_abs_diff=0.08)),
    # Compared with the QAT Keras model (fake-quant), which it should track closely. The
    # representative images fill in ranges for layers QAT left unquantized (fallbacks).
    PrecisionRecipe("qat_int8", "quantization-aware trained, full int8, float32 input/output",
                    post_training=False, converter=_INT8, reads_as=("int8", "int8_mixed"),
                    parity=ParityRule(0.97, 0.3, max_accuracy_drop_points=1.0, max_rel_mean_abs_diff=0.1)),
    # Google's AI Edge Quantizer (the `quantize` extra), on the float32 `.tflite` (edgecomp.exporters.edge_quantizer).
    # What each leaves float is read back from the file into the record, never assumed.
    PrecisionRecipe("a8w8", "AI Edge Quantizer: static int8 activations and weights, int8 input/output",
                    kind="edge_quantizer", edge_quantizer="a8w8", quantize_mode=True, input_type="int8",
                    output_type="int8", reads_as=("int8_io",), parity=_INT8_PARITY),
    PrecisionRecipe("a16w8", "AI Edge Quantizer: 16-bit activations, int8 weights, int16 input/output",
                    kind="edge_quantizer", edge_quantizer="a16w8", quantize_mode=True, input_type="int16",
                    output_type="int16", reads_as=("int16x8",),
                    parity=ParityRule(0.98, 0.1, max_accuracy_drop_points=0.5, max_rel_mean_abs_diff=0.03)),
    PrecisionRecipe("w4", "AI Edge Quantizer: 4-bit weights (dequantized before each op), float compute",
                    kind="edge_quantizer", edge_quantizer="w4", quantize_mode=True,
                    parity=ParityRule(0.95, 0.5, max_accuracy_drop_points=1.0, max_rel_mean_abs_diff=0.1)),
    PrecisionRecipe("dynamic_w4", "AI Edge Quantizer: 4-bit weights, activations quantized on the fly",
                    kind="edge_quantizer", edge_quantizer="dynamic_w4", quantize_mode=True,
                    parity=ParityRule(0.95, 0.5, max_accuracy_drop_points=1.0, max_rel_mean_abs_diff=0.1)),
    # Mixed precision searched on the validation split until within the quantize stage's max_drop: its
    # own accuracy bound is that search's, so parity keeps int8's.
    PrecisionRecipe("auto", "AI Edge Quantizer: int8, the most sensitive layers raised to 16-bit activations "
                    "(then float) until within max_drop of float32", kind="edge_quantizer_auto",
                    quantize_mode=True, input_type="int8", output_type="int8", reads_as=("int8_io", "int8_mixed", "int16x8"),
                    parity=_INT8_PARITY),
]:
    PRECISIONS.register(_recipe.name)(_recipe)

# The names a `quantize` stage's `modes` may list (checked when a plan is read).
QUANTIZE_MODES: tuple[str, ...] = tuple(name for name in PRECISIONS.names() if PRECISIONS.get(name).quantize_mode)
# Always exported: the float baseline every ratio is measured against.
BASELINE_PRECISION = "float32"
# The recipe a `qat` stage exports, and the post-training recipe a search may replace by QAT.
QAT_PRECISION = "qat_int8"
QAT_REPLACES = "int8"
# The recipe a quantize stage's `float_fallback_layers` adds.
FLOAT_FALLBACK_PRECISION = "int8_mixed"
# What a quantize stage's `overrides` may set a layer to: a recipe of the quantizer, or float.
OVERRIDE_PRECISIONS: tuple[str, ...] = ("a8w8", "a16w8", "w4", "dynamic_w4", "float")
# The floor a model file's chain must beat: the PTQ of the unchanged model (edgecomp.run.artifacts).
FLOOR_PRECISION = "int8"
