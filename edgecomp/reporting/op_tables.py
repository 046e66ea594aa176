"""Per-op tables from benchmark_model's op profile (an artifact's `op_profile` in report.json).

Per artifact: its slowest nodes and its time by node type. Across the run's artifacts: each node
type's time per inference in every file, and, beside each file, the difference from the float32
file, so where int8 is slower than float32 the node types responsible stand out.
"""

from __future__ import annotations

from typing import Optional

from edgecomp.reporting import cells
from edgecomp.reporting.tables import Row, Table, value
from edgecomp.targets.op_profile import top_nodes

TOP_NODES = 10


def profiled(report: dict) -> list[dict]:
    """The artifacts that carry an op profile, in report order."""
    return [a for a in report.get("artifacts") or [] if a.get("op_profile")]


def _share(percent: Optional[float]) -> str:
    return cells.DASH if percent is None else f"{percent:.1f}%"


def top_nodes_table(artifact: dict, count: int = TOP_NODES) -> Table:
    """The `count` nodes that take the most time per inference."""
    columns = [value("node_type", "node type"), value("name", "node"),
               value("ms_per_run", "ms / inference", cells.ms, numeric=True),
               value("percent", "share", _share, numeric=True),
               value("times_called", "calls", cells.text, numeric=True)]
    return Table(columns, [Row(node) for node in top_nodes(artifact["op_profile"], count)])


def node_type_table(artifact: dict) -> Table:
    """Time per inference by node type, slowest first (benchmark_model's "Summary by node type")."""
    columns = [value("node_type", "node type"), value("count", "nodes", cells.text, numeric=True),
               value("avg_ms", "ms / inference", cells.ms, numeric=True),
               value("percent", "share", _share, numeric=True)]
    return Table(columns, [Row(t) for t in artifact["op_profile"].get("node_types") or []])


def _type_times(artifact: dict) -> dict[str, float]:
    return {t["node_type"]: t["avg_ms"] for t in artifact["op_profile"].get("node_types") or []}


def _signed_ms(delta: Optional[float]) -> str:
    return cells.DASH if delta is None else f"{delta:+.3f}"


def node_type_comparison(report: dict) -> Table:
    """Node types (rows) x profiled artifacts: ms per inference, and the change from the float32 file."""
    artifacts = profiled(report)
    times = {a["name"]: _type_times(a) for a in artifacts}
    baseline = next((a["name"] for a in artifacts if a.get("precision") == "float32"), None)
    columns = [value("node_type", "node type")]
    for artifact in artifacts:
        name = artifact["name"]
        columns.append(value(name, f"{name} ms", cells.ms, numeric=True))
        if baseline is not None and name != baseline:
            columns.append(value(f"{name} delta", f"vs {baseline}", _signed_ms, numeric=True))
    node_types = sorted({t for per_file in times.values() for t in per_file},
                        key=lambda t: -max(per_file.get(t, 0.0) for per_file in times.values()))
    rows = []
    for node_type in node_types:
        values = {"node_type": node_type, **{name: per_file.get(node_type) for name, per_file in times.items()}}
        if baseline is not None:
            for name, per_file in times.items():
                values[f"{name} delta"] = per_file.get(node_type, 0.0) - times[baseline].get(node_type, 0.0)
        rows.append(Row(values))
    return Table(columns, rows)


OP_PROFILE_NOTE = ("From benchmark_model's op profiler on the target (`--op-profile`): ms per inference, averaged "
                   "over the timed runs; a node the delegate runs as one kernel appears once. Each file's per-op "
                   "times are also a Model Explorer overlay beside this report (<file>.op_profile.node_data.json: "
                   "model-explorer FILE --node_data_paths=OVERLAY).")
