"""Per-op times as a Model Explorer overlay: one node-data file per profiled artifact.

Model Explorer (ai-edge-model-explorer) colours a graph's nodes from a node-data JSON, its
`node_data_builder.GraphNodeData`: {"name", "results": {key: {"value": number}}, "gradient": [...]},
where a key may be a node's output tensor name. benchmark_model names each node after its output
tensors ("[name, name]:node index"), so each node's ms per inference is keyed by those names. Open
one with `model-explorer MODEL.tflite --node_data_paths=MODEL.op_profile.node_data.json`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from edgecomp.core.files import write_bytes_atomically

_NODE_NAME = re.compile(r"^\[(?P<tensors>.*)\]:\d+$")
# white (fastest) to red (slowest), Model Explorer's GradientItem stops
GRADIENT = [{"stop": 0, "bgColor": "#ffffff"}, {"stop": 1, "bgColor": "#d73027"}]


def output_tensors(node_name: str) -> list[str]:
    """"[a, b]:7" -> ["a", "b"]; a delegate kernel's name ("Delegate/Convolution (NHWC, F32) GEMM:3") has none."""
    match = _NODE_NAME.match(node_name)
    return [name.strip() for name in match.group("tensors").split(", ")] if match else []


def node_data(artifact: dict) -> dict:
    """The GraphNodeData of one artifact's op profile: ms per inference by output tensor name."""
    results = {}
    for node in artifact["op_profile"].get("nodes") or []:
        for tensor in output_tensors(node["name"]):
            results[tensor] = {"value": round(node["ms_per_run"], 6)}
    return {"name": f"benchmark_model ms per inference ({artifact['name']})", "results": results,
            "gradient": GRADIENT}


def write_op_overlays(report: dict, run_dir: Path) -> list[Path]:
    """Writes `<file stem>.op_profile.node_data.json` in `run_dir` for each artifact with an op profile."""
    written = []
    for artifact in report.get("artifacts") or []:
        if artifact.get("op_profile"):
            path = Path(run_dir) / f"{Path(artifact['name']).stem}.op_profile.node_data.json"
            written.append(write_bytes_atomically(path, json.dumps(node_data(artifact), indent=1).encode()))
    return written
