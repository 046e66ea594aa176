"""Every layer's numbers as Model Explorer overlays: per-layer files that `edgecomp explore` opens on the graph.

One JSON file per metric, in Model Explorer's node-data format (`ModelNodeData`: graph id -> results keyed by
each op's output tensor name, which is how the viewer matches a node). The metrics are read from the
`.tflite` itself (parameters, MACs, zero weights, weight and activation bits), plus whatever per-layer
values the caller measured (the quantization error against the float file). Written with the standard
library only, so a run writes them whether or not the `explore` extra is installed; tests read them back
with Model Explorer's own classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgecomp.core.files import write_bytes_atomically
from edgecomp.measure.modelfile import read_tflite

GRAPH_ID = "main"  # the id Model Explorer's TFLite adapter gives a model's main subgraph
_BITS = {"int4": 4, "int8": 8, "uint8": 8, "int16": 16, "float16": 16, "float32": 32, "int32": 32}
_KERNEL_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL"}
# Green (low) to red (high): for metrics where more costs more (MACs, parameters) the viewer reads it directly.
_GRADIENT = [{"stop": 0, "bgColor": "#c8e6c9"}, {"stop": 0.5, "bgColor": "#fff59d"}, {"stop": 1, "bgColor": "#ef9a9a"}]
# Metrics where a higher value is better: red marks their lowest layers (the quantized layers that lost
# the most signal), so red always means "look here".
HIGHER_IS_BETTER = frozenset({"quantization_snr_db"})
_REVERSED_GRADIENT = [{"stop": 1 - item["stop"], "bgColor": item["bgColor"]} for item in reversed(_GRADIENT)]


def _constant_values(path: Path) -> dict[int, np.ndarray]:
    """Tensor index -> value, for the constant tensors LiteRT can hand back (int4 ones it cannot: left out)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    values = {}
    for detail in interpreter.get_tensor_details():
        try:
            values[detail["index"]] = interpreter.get_tensor(detail["index"])
        except ValueError:  # a tensor with no data yet (activations) or a type numpy lacks (int4)
            continue
    return values


def layer_table(path: Path) -> list[dict]:
    """One row per op with weights: name (its output tensor), op, params, MACs, zero-weight fraction, and the
    bits its weights are stored in and its input activations computed in."""
    graph = read_tflite(Path(path))
    values = _constant_values(path)
    stored_bits = {}  # a DEQUANTIZE's float output -> the bits of the constant it expands
    for op in graph.ops:
        if op.name == "DEQUANTIZE" and graph.tensors[op.inputs[0]].is_constant:
            stored_bits[op.outputs[0]] = _BITS.get(graph.tensors[op.inputs[0]].dtype)
    rows = []
    for op in graph.ops:
        if op.name not in _KERNEL_OPS or len(op.inputs) < 2 or not op.outputs:
            continue
        weights_index, output = op.inputs[1], graph.tensors[op.outputs[0]]
        weights = graph.tensors[weights_index]
        params = int(np.prod(weights.shape))
        out_elements = int(np.prod(output.shape))
        # MACs: each output element reads a kernel slice (all of it but the output-channel axis).
        per_output = params // max(weights.shape[0], 1) if op.name != "DEPTHWISE_CONV_2D" else \
            params // max(weights.shape[-1], 1)
        value = values.get(weights_index)
        rows.append({
            "name": output.name, "op": op.name, "params": params, "macs": out_elements * per_output,
            "zero_weights": round(float(np.mean(value == 0)), 4) if value is not None and value.size else None,
            "weight_bits": stored_bits.get(weights_index, _BITS.get(weights.dtype)),
            "activation_bits": _BITS.get(graph.tensors[op.inputs[0]].dtype),
        })
    return rows


def node_data(metric: str, values: dict[str, float]) -> dict:
    """A `ModelNodeData` document (as Model Explorer's `node_data_builder` writes it) for one metric."""
    gradient = _REVERSED_GRADIENT if metric in HIGHER_IS_BETTER else _GRADIENT
    return {GRAPH_ID: {"name": metric, "results": {name: {"value": value} for name, value in values.items()},
                       "gradient": gradient}}


def write_node_data(path: Path, folder: Path, measured: dict[str, dict[str, float]] | None = None) -> list[Path]:
    """Writes one node-data file per metric of `layer_table(path)` (and of `measured`: metric -> {layer:
    value}) into `folder`, named `<metric>.json`. Returns the files written."""
    rows = layer_table(path)
    metrics = {metric: {row["name"]: row[metric] for row in rows if row[metric] is not None}
               for metric in ("params", "macs", "zero_weights", "weight_bits", "activation_bits")}
    metrics.update(measured or {})
    written = []
    for metric, values in metrics.items():
        if values:
            written.append(write_bytes_atomically(folder / f"{metric}.json",
                                                  json.dumps(node_data(metric, values), indent=1).encode()))
    return written
