"""Where the bytes of a .tflite file go: weights, biases, quantization parameters, tensor names, the rest.

    python benchmarks/user_models/file_bytes.py runs/user_models/runs/*/artifacts/*.tflite

An int8 file is not 4x smaller than its float32 one, and a narrow network's int8 file holds more than
one byte per parameter. This prints why, read from the flatbuffer itself (LiteRT's schema, no
interpreter): the constant tensors by element type, the per-channel quantization parameters (a float32
scale and an int64 zero point per channel, 12 bytes), the tensor names (the converter joins the names
of fused ops with ';') and what is left (graph, shapes, op options, metadata, alignment); and the
file's gzip size (level 9, as edgecomp's reports measure it).
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

from ai_edge_litert import schema_py_generated as schema


def file_bytes(path: Path) -> dict:
    """The byte accounting of one .tflite file's first subgraph and its buffers."""
    buf = path.read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(buf, 0))
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    constants: dict[str, int] = {}
    quant_channels = names = 0
    for tensor in model.subgraphs[0].tensors:
        data = model.buffers[tensor.buffer].data
        if data is not None and len(data):
            kind = type_names.get(tensor.type, str(tensor.type))
            constants[kind] = constants.get(kind, 0) + len(data)
        q = tensor.quantization
        if q is not None and q.scale is not None:
            quant_channels += len(q.scale)
        names += len(tensor.name or b"")
    quant_bytes = 12 * quant_channels  # float32 scale + int64 zero point
    known = sum(constants.values()) + quant_bytes + names
    return {"file": str(path), "bytes": len(buf), "gzip_bytes": len(gzip.compress(buf, compresslevel=9, mtime=0)),
            "constants": constants, "quant_channels": quant_channels, "quant_bytes": quant_bytes,
            "name_bytes": names, "other_bytes": len(buf) - known}


def share(n: int, total: int) -> str:
    return f"{n:,} ({100 * n / total:.0f}%)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    print("| file | bytes | gzip | constants by type | quantization parameters | tensor names | other |")
    print("|---|---|---|---|---|---|---|")
    for path in args.files:
        r = file_bytes(path)
        total = r["bytes"]
        consts = ", ".join(f"{kind} {share(n, total)}" for kind, n in sorted(r["constants"].items()))
        print(f"| {r['file']} | {total:,} | {r['gzip_bytes']:,} | {consts} | {r['quant_channels']:,} channels, "
              f"{share(r['quant_bytes'], total)} | {share(r['name_bytes'], total)} | {share(r['other_bytes'], total)} |")


if __name__ == "__main__":
    main()
