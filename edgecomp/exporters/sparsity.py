"""Read the weights back out of a `.tflite` file and report how many are exactly zero.

This checks that pruning survived conversion (BN folding, quantization) instead of trusting the
Keras model. Weights are the constant filter inputs of CONV_2D, DEPTHWISE_CONV_2D,
TRANSPOSE_CONV and FULLY_CONNECTED ops, followed back through DEQUANTIZE / DENSIFY when the
converter stored them as float16 or in TFLite's sparse format.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecomp.core.errors import ExportError
from edgecomp.exporters.litert_internals import ops_details

# op name -> position of its weight tensor among the op's inputs
WEIGHT_INPUT = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1}
# ops the converter puts between a stored constant and the op that uses it
PASS_THROUGH_OPS = {"DEQUANTIZE", "DENSIFY"}


def _layer_of(tensor_name: str) -> str:
    """'model/relu/Relu;model/stage2_conv1/Conv2D' -> 'stage2_conv1' (the Keras layer, when named)."""
    segments = tensor_name.split(";")
    for segment in segments:
        parts = segment.split("/")
        if len(parts) >= 3 and parts[-1] in ("Conv2D", "MatMul", "depthwise", "conv2d_transpose"):
            return parts[1]
    parts = segments[0].split("/")
    return parts[1] if len(parts) >= 3 else segments[0]


def _zero_count(values: np.ndarray, detail: dict) -> int:
    """Exact zeros of a float tensor, or entries equal to their zero point for a quantized one."""
    if np.issubdtype(values.dtype, np.floating):
        return int(np.count_nonzero(values == 0))
    params = detail.get("quantization_parameters") or {}
    zero_points = np.asarray(params.get("zero_points", []))
    if zero_points.size <= 1:
        return int(np.count_nonzero(values == (zero_points.item() if zero_points.size else 0)))
    axis = params.get("quantized_dimension", 0)
    shape = [1] * values.ndim
    shape[axis] = zero_points.size
    return int(np.count_nonzero(values == zero_points.reshape(shape)))


def tflite_sparsity(path: Path) -> dict:
    """Per-weight-tensor and overall fraction of zero weights in a `.tflite` file.

    Args:
        path: a `.tflite` file (float32, float16 or quantized).

    Returns:
        {"overall": float, "zeros": int, "weights": int,
         "layers": {layer: {"sparsity", "weights", "op", "tensor", "dtype"}}}

    Raises:
        ExportError: the file cannot be loaded by the TFLite interpreter.
        DependencyError: the installed LiteRT changed the private operator list this reads.
    """
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path))
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise ExportError(f"cannot read weights from {path}: {err}") from err
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    ops = ops_details(interpreter)
    producer = {out: op for op in ops for out in op.outputs}
    layers, zeros, total = {}, 0, 0
    for op in ops:
        position = WEIGHT_INPUT.get(op.op_name)
        if position is None or len(op.inputs) <= position:
            continue
        used = op.inputs[position]
        index, stored_sparse = used, False
        while index in producer and producer[index].op_name in PASS_THROUGH_OPS:
            stored_sparse = stored_sparse or producer[index].op_name == "DENSIFY"
            index = producer[index].inputs[0]
        if index < 0 or index in producer:  # computed at run time, not a stored weight
            continue
        detail = details[index]
        values = interpreter.get_tensor(index)  # only the stored (non-zero) values when sparse-encoded
        size = int(np.prod(details[used]["shape"]))  # the dense weight count the op sees
        layer_zeros = size - (values.size - _zero_count(values, detail))
        name = _layer_of(detail["name"] + ";" + details[used]["name"])
        layers[name] = {"sparsity": layer_zeros / size, "weights": size, "op": op.op_name,
                        "tensor": detail["name"], "dtype": values.dtype.name,
                        "storage": "sparse" if stored_sparse else "dense"}
        zeros, total = zeros + layer_zeros, total + size
    return {"overall": zeros / total if total else 0.0, "zeros": zeros, "weights": total, "layers": layers}
