"""A model file's graph as plain data: tensors (dtype, size, constant or not) and ops in execution order.

Read from the file itself, with no interpreter and no TensorFlow: `.tflite` through the flatbuffer
schema that ships with LiteRT (`ai_edge_litert.schema_py_generated`), `.onnx` through `onnx` with
shape inference. The memory prediction (`footprint`) and the precision label (`precision`) are
both computed from this one description.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecomp.core.errors import ModelLoadError

# Bytes per element of TFLite / ONNX element types (sub-byte types rounded up to one byte per
# element would overstate them; they are packed two or four per byte).
DTYPE_BYTES = {
    "float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int64": 8, "int32": 4, "int16": 2,
    "int8": 1, "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8, "bool": 1, "complex64": 8,
    "complex128": 16, "int4": 0.5, "uint4": 0.5, "int2": 0.25, "float8_e4m3fn": 1, "float8_e5m2": 1,
}


@dataclass
class TensorInfo:
    """One tensor: element type, shape (batch dimension taken as 1) and stored bytes if constant."""

    name: str
    dtype: str
    shape: tuple
    constant_bytes: int = 0  # bytes of its data in the file; 0 for a tensor computed at run time

    @property
    def is_constant(self) -> bool:
        return self.constant_bytes > 0

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor at run time (dtype size x elements; a scalar has one element)."""
        return int(np.ceil(DTYPE_BYTES.get(self.dtype, 4) * int(np.prod(self.shape, dtype=np.int64))))


@dataclass
class OpInfo:
    name: str  # "CONV_2D", "DEQUANTIZE" (TFLite) or "Conv", "QLinearConv" (ONNX)
    inputs: list = field(default_factory=list)  # tensor keys; optional inputs left out
    outputs: list = field(default_factory=list)


@dataclass
class GraphInfo:
    """A model's main graph. Tensor keys are TFLite tensor indices or ONNX value names."""

    format: str  # "tflite" | "onnx"
    tensors: dict
    ops: list  # execution order (TFLite stores it; ONNX nodes are topologically sorted)
    inputs: list
    outputs: list

    def constants(self) -> list:
        return [t for t in self.tensors.values() if t.is_constant]


def read_graph(path: Path) -> GraphInfo:
    """The graph of a `.tflite` or `.onnx` file.

    Raises:
        ModelLoadError: the file is not a readable model of that format.
    """
    path = Path(path)
    try:
        return read_tflite(path) if path.suffix == ".tflite" else read_onnx(path)
    except ModelLoadError:
        raise
    except Exception as err:  # noqa: BLE001 - flatbuffers / protobuf raise many kinds on a bad file
        raise ModelLoadError(f"cannot read the graph of {path} ({type(err).__name__}: {str(err)[:200]}); "
                             "is it a complete .tflite / .onnx file?") from err


def _tflite_names(enum_class) -> dict:
    return {value: name for name, value in vars(enum_class).items() if not name.startswith("_")}


def read_tflite(path: Path) -> GraphInfo:
    """The first subgraph of a `.tflite` flatbuffer (the one `Interpreter` runs)."""
    from ai_edge_litert import schema_py_generated as schema

    buf = path.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelLoadError(f"{path} is not a TFLite flatbuffer (no TFL3 identifier); re-export it.")
    model = schema.Model.GetRootAs(buf, 0)
    if model.SubgraphsLength() < 1:
        raise ModelLoadError(f"{path} has no subgraph.")
    type_names = _tflite_names(schema.TensorType)
    op_names = _tflite_names(schema.BuiltinOperator)
    graph = model.Subgraphs(0)
    tensors = {}
    for index in range(graph.TensorsLength()):
        tensor = graph.Tensors(index)
        buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() < model.BuffersLength() else None
        stored = 0
        if buffer is not None:
            # Files over 2 GB keep buffers after the flatbuffer (offset/size) instead of inline data.
            stored = buffer.Size() if buffer.Offset() > 1 else buffer.DataLength()
        shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        tensors[index] = TensorInfo(name=(tensor.Name() or b"").decode(errors="replace"),
                                    dtype=type_names.get(tensor.Type(), str(tensor.Type())).lower(),
                                    shape=tuple(max(d, 1) for d in shape), constant_bytes=int(stored))
    ops = []
    for index in range(graph.OperatorsLength()):
        op = graph.Operators(index)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = (code.CustomCode() or b"").decode() if builtin == schema.BuiltinOperator.CUSTOM else \
            op_names.get(builtin, str(builtin))
        ops.append(OpInfo(name=name, inputs=[int(i) for i in op.InputsAsNumpy() if i >= 0],
                          outputs=[int(i) for i in op.OutputsAsNumpy() if i >= 0]))
    return GraphInfo("tflite", tensors, ops, [int(i) for i in graph.InputsAsNumpy()],
                     [int(i) for i in graph.OutputsAsNumpy()])


def read_onnx(path: Path) -> GraphInfo:
    """The main graph of an `.onnx` file, shapes inferred with a batch size of 1."""
    import onnx
    from onnx import TensorProto, shape_inference

    model = onnx.load(str(path))
    for value in model.graph.input:  # a named or unknown batch dimension is taken as 1
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1
    model = shape_inference.infer_shapes(model)
    type_names = {value: name.lower() for name, value in TensorProto.DataType.items()}

    def info(name: str, elem_type: int, dims, stored: int = 0) -> TensorInfo:
        return TensorInfo(name=name, dtype=type_names.get(elem_type, "float32"),
                          shape=tuple(max(int(d), 1) for d in dims), constant_bytes=stored)

    tensors: dict = {}
    for value in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in value.type.tensor_type.shape.dim]
        tensors[value.name] = info(value.name, value.type.tensor_type.elem_type, dims)
    for init in model.graph.initializer:
        tensor = info(init.name, init.data_type, init.dims)
        tensor.constant_bytes = max(tensor.nbytes, 1)
        tensors[init.name] = tensor
    ops = []
    for node in model.graph.node:
        if node.op_type == "Constant":  # a constant written as a node: a weight, not a computation
            value = onnx.numpy_helper.to_array(node.attribute[0].t) if node.attribute[0].HasField("t") else None
            if value is not None:
                tensors[node.output[0]] = TensorInfo(node.output[0], value.dtype.name, value.shape or (1,),
                                                     max(int(value.nbytes), 1))
            continue
        ops.append(OpInfo(node.op_type, [i for i in node.input if i], [o for o in node.output if o]))
    initializers = {init.name for init in model.graph.initializer}
    inputs = [v.name for v in model.graph.input if v.name not in initializers]
    return GraphInfo("onnx", tensors, ops, inputs, [v.name for v in model.graph.output])

