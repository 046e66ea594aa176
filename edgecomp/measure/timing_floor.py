"""The timing-floor model: one 1x1 FULLY_CONNECTED (y = 1.0 * x + 0.0), whose latency is the runner's own.

It ships as package data (`timing_floor.tflite` beside this module) so that `edgecomp bench`
never imports TensorFlow to make it. The file is written with the TFLite flatbuffer schema that
LiteRT ships; `python -m edgecomp.measure.timing_floor` regenerates it, and a test checks that the
committed file is exactly what `timing_floor_bytes()` builds.
"""

from __future__ import annotations

import struct
from pathlib import Path

TIMING_FLOOR_PATH = Path(__file__).resolve().parent / "timing_floor.tflite"


def timing_floor_bytes() -> bytes:
    """The flatbuffer of the timing-floor model: input (1, 1) float32 -> FULLY_CONNECTED -> (1, 1)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    def tensor(name: str, shape: list, buffer: int):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, shape, schema.TensorType.FLOAT32, buffer
        return t

    def buffer(data: bytes = b""):
        b = schema.BufferT()
        b.data = list(data) if data else None
        return b

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.FULLY_CONNECTED
    code.version = 1
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2], [3]
    op.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = schema.FullyConnectedOptionsT()
    graph = schema.SubGraphT()
    graph.tensors = [tensor("x", [1, 1], 1), tensor("weights", [1, 1], 2), tensor("bias", [1], 3),
                     tensor("y", [1, 1], 4)]
    graph.inputs, graph.outputs, graph.operators, graph.name = [0], [3], [op], "main"
    model = schema.ModelT()
    model.version = 3
    model.description = "edgecomp timing floor: y = 1.0 * x + 0.0"
    model.operatorCodes = [code]
    model.subgraphs = [graph]
    # Buffer 0 is the conventional empty buffer; weight 1.0 and bias 0.0 as little-endian float32.
    model.buffers = [buffer(), buffer(), buffer(struct.pack("<f", 1.0)), buffer(struct.pack("<f", 0.0)), buffer()]
    builder = flatbuffers.Builder(256)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


if __name__ == "__main__":
    TIMING_FLOOR_PATH.write_bytes(timing_floor_bytes())
    print(f"wrote {TIMING_FLOOR_PATH} ({TIMING_FLOOR_PATH.stat().st_size} bytes)")
