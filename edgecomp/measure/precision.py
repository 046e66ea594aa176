"""Which precision a model file is, read from the file itself and from the model card beside it.

`.tflite`: the element types of the weights (constant tensors of two or more dimensions), of the
activations (tensors the ops compute) and of the input decide: float16 weights (expanded by
DEQUANTIZE) = float16; int8 weights with float activations = dynamic; int8 activations = int8,
and int8_io / uint8_io when the input is integer too; int16 activations = int16x8; int4 weights =
w4 when DEQUANTIZE expands them before float ops, dynamic_w4 when the op takes them. `.onnx`:
QuantizeLinear / DequantizeLinear / QLinear* ops = int8; integer ops fed by DynamicQuantizeLinear
= dynamic; float16 weights = float16. A model card (`<file>.json`, written by `edgecomp build`)
names the recipe (e.g. qat_int8, a recipe of edgecomp.plan.precisions); it is used when the file
reads as that recipe's label.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from edgecomp.measure.modelfile import GraphInfo, read_graph
from edgecomp.plan.precisions import PRECISIONS

INTEGER = {"int8", "uint8"}
ONNX_STATIC_INT8_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QLinearAdd",
                        "QLinearMul", "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat"}
ONNX_DYNAMIC_OPS = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul"}


def _weight_dtypes(graph: GraphInfo) -> set:
    return {t.dtype for t in graph.constants() if len(t.shape) >= 2}


def _activation_dtypes(graph: GraphInfo) -> set:
    """Element types of tensors computed at run time (a DEQUANTIZE of a constant is a weight)."""
    dtypes = set()
    for op in graph.ops:
        if op.name in ("DEQUANTIZE", "DENSIFY") and op.inputs and graph.tensors[op.inputs[0]].is_constant:
            continue
        dtypes.update(graph.tensors[key].dtype for key in op.outputs if key in graph.tensors)
    return dtypes


def tflite_precision(graph: GraphInfo) -> str:
    weights, activations = _weight_dtypes(graph), _activation_dtypes(graph)
    input_dtype = graph.tensors[graph.inputs[0]].dtype if graph.inputs else "float32"
    if "int16" in activations and weights & INTEGER:
        return "int16x8"
    if activations & INTEGER:
        if input_dtype in INTEGER:
            return f"{input_dtype}_io"
        # Some layers left in float beside integer ones (a selective / mixed int8 file).
        return "int8_mixed" if "float32" in weights else "int8"
    if "int4" in weights:
        # 4-bit weights (AI Edge Quantizer): expanded by DEQUANTIZE before float ops, or fed to the
        # op itself, whose kernel quantizes activations on the fly.
        expanded = any(op.name == "DEQUANTIZE" and graph.tensors[op.inputs[0]].dtype == "int4" for op in graph.ops)
        return "w4" if expanded else "dynamic_w4"
    if weights & INTEGER:
        return "dynamic"
    if "float16" in weights:
        return "float16"
    return "float32"


def onnx_precision(graph: GraphInfo) -> str:
    ops = {op.name for op in graph.ops}
    if ops & ONNX_DYNAMIC_OPS:
        return "dynamic"
    if ops & ONNX_STATIC_INT8_OPS:
        return "int8"
    weights = _weight_dtypes(graph)
    if "float16" in weights:
        return "float16"
    return "float32"


def file_precision(path: Path) -> str:
    """The precision label read from the model file (see the module docstring).

    Raises:
        ModelLoadError: the file's graph cannot be read.
    """
    graph = read_graph(Path(path))
    return tflite_precision(graph) if graph.format == "tflite" else onnx_precision(graph)


def card_precision(path: Path) -> Optional[str]:
    """The `precision` a model card beside the file names, or None (no card, unreadable card)."""
    card = Path(path).with_name(Path(path).name + ".json")
    try:
        value = json.loads(card.read_text()).get("precision")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def describe_precision(path: Path) -> dict:
    """{"precision", "from_file", "from_card", "source"}.

    The card's label wins when it is the file's label or a recipe that reads as it (qat_int8 is an
    int8 file); a card that contradicts the file is recorded but not believed.

    Raises:
        ModelLoadError: the file's graph cannot be read.
    """
    from_file = file_precision(path)
    from_card = card_precision(path)
    agrees = from_card in PRECISIONS and from_file in PRECISIONS.get(from_card).file_labels
    return {"precision": from_card if agrees else from_file, "from_file": from_file, "from_card": from_card,
            "source": "model card (agrees with the file)" if agrees else
            "file" + (" (the model card disagrees)" if from_card else "")}

