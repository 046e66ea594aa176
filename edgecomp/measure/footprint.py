"""The memory a model file needs, predicted from the file before any device is attached.

weights_mb: the constant tensors stored in the file (each counted once), plus, for `.tflite`, the
float copies TFLite keeps of weights stored as float16 or sparse (DEQUANTIZE / DENSIFY of a
constant is evaluated once at load into a persistent tensor). activations_mb: the peak over the
ops, in execution order, of the sum of live intermediate tensors, a tensor being live from the op
that produces it (the graph inputs: from the start) to the last op that reads it (the graph
outputs: to the end). This is a simple no-reuse-within-an-op plan, close to the arena TFLite's
greedy planner builds; the runtime's own code, thread pools and XNNPACK's repacked weights are not
in it, and the runner measures those as part of the model's footprint.
"""

from __future__ import annotations

from pathlib import Path

from edgecomp.measure.metrics import BYTES_PER_MB
from edgecomp.measure.modelfile import GraphInfo, read_graph

# TFLite ops that turn a stored constant into a persistent run-time tensor at load.
TFLITE_CONSTANT_EXPANDERS = {"DEQUANTIZE", "DENSIFY"}
# ONNX ops whose constant inputs onnxruntime folds into the consuming kernel (QDQ -> QLinear*).
ONNX_FOLDED_WITH_WEIGHTS = {"DequantizeLinear"}

METHOD = ("weights: constant tensors stored in the file{expanded}; activations: peak sum of live "
          "intermediate tensors over the ops in execution order (live from producer to last consumer, "
          "batch 1); runtime overhead (interpreter, thread pool, packed weight copies) not included")


def _expanded_weights(graph: GraphInfo) -> tuple[int, set]:
    """Bytes of run-time copies made of constants once at load, and the keys of those copies."""
    if graph.format != "tflite":
        return 0, set()
    copies = set()
    for op in graph.ops:
        if op.name in TFLITE_CONSTANT_EXPANDERS and op.inputs and graph.tensors[op.inputs[0]].is_constant:
            copies.update(op.outputs)
    return sum(graph.tensors[key].nbytes for key in copies), copies


def _weight_derived(graph: GraphInfo) -> set:
    """ONNX values computed only from constants by ops the runtime folds (e.g. DequantizeLinear of a weight)."""
    if graph.format != "onnx":
        return set()
    derived = set()
    for op in graph.ops:
        if op.name in ONNX_FOLDED_WITH_WEIGHTS and all(
                graph.tensors.get(i) is not None and (graph.tensors[i].is_constant or i in derived)
                for i in op.inputs):
            derived.update(op.outputs)
    return derived


def peak_activation_bytes(graph: GraphInfo, excluded: set) -> int:
    """max over ops of the bytes of tensors live at that op (see the module docstring)."""
    last = len(graph.ops) - 1
    start, end = {}, {}
    for key in graph.inputs:
        start[key] = 0
    for position, op in enumerate(graph.ops):
        for key in op.outputs:
            start.setdefault(key, position)
        for key in op.inputs:
            end[key] = position
    for key in graph.outputs:
        end[key] = last
    sizes = {}
    for key in start:
        tensor = graph.tensors.get(key)
        if key in excluded or tensor is None or tensor.is_constant:
            continue
        sizes[key] = tensor.nbytes
    peak = 0
    for position in range(len(graph.ops)):
        live = sum(size for key, size in sizes.items() if start[key] <= position <= end.get(key, start[key]))
        peak = max(peak, live)
    return peak


def predict_memory(path: Path) -> dict:
    """Predicted footprint of a `.tflite` / `.onnx` file.

    Args:
        path: The model file.

    Returns:
        {"weights_mb", "activations_mb", "total_mb", "method"} in MB = 10^6 bytes.

    Raises:
        ModelLoadError: the file's graph cannot be read.
    """
    graph = read_graph(Path(path))
    stored = sum(t.constant_bytes for t in graph.constants())
    expanded, copies = _expanded_weights(graph)
    activations = peak_activation_bytes(graph, copies | _weight_derived(graph))
    weights = stored + expanded
    note = (f" plus float copies of float16/sparse weights made at load ({expanded / BYTES_PER_MB:.3f} MB)"
            if expanded else "")
    return {"weights_mb": weights / BYTES_PER_MB, "activations_mb": activations / BYTES_PER_MB,
            "total_mb": (weights + activations) / BYTES_PER_MB, "method": METHOD.format(expanded=note)}
