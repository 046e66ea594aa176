"""benchmark_model's per-op profile (`--enable_op_profiling=true`) read into rows: per node, and per node type.

benchmark_model prints StatsCalculator's tables (tensorflow/core/util/stats_calculator.cc, later
xla/tsl/util/stats_calculator.cc) under "Operator-wise Profiling Info for Regular Benchmark Runs:":
"Run Order", "Top by Computation Time" and "Summary by node type". Three shapes exist:
- text, TensorFlow <= 2.1x: a `[start]` column, node type 24 wide, tab-separated;
- text, TSL / LiteRT: no `[start]`, node type 40 wide (and tabs lost when a log is pasted: columns are
  found by their numbers, not by tabs);
- CSV (`--op_profiling_output_mode=csv`, written to `--op_profiling_output_file`): ", "-separated, commas
  in node names turned into tabs by recent versions.
The initialization profile printed before it (ModifyGraphWithDelegate, AllocateTensors) is not the
model's ops and is skipped; rows after "Delegate internal:" are the delegate's own kernels.
"""

from __future__ import annotations

import re
from typing import Optional

RUN_SECTION = "Operator-wise Profiling Info for Regular Benchmark Runs:"
INIT_SECTION = "Profiling Info for Benchmark Initialization:"
_TITLE = re.compile(r"^=+ (.+?) =+$")
_LOG_PREFIX = re.compile(r"^(?:INFO: |\S+ \S+\s+\d+\s+\d+ [VDIWEF] tflite\s*: )")
_NUM = r"[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|nan|inf)"


def _node_row(with_start: bool) -> re.Pattern:
    start = rf"(?P<start>{_NUM})\s+" if with_start else ""
    return re.compile(rf"^\s*(?P<type>\S.*?)\s+{start}(?P<first>{_NUM})\s+(?P<avg>{_NUM})\s+(?P<pct>{_NUM})%\s+"
                      rf"(?P<cdf>{_NUM})%\s+(?P<mem>{_NUM})\s+(?P<times>\d+)\s+(?P<name>\S.*?)\s*$")


_TYPE_ROW = re.compile(rf"^\s*(?P<type>\S.*?)\s+(?P<count>\d+)\s+(?P<avg>{_NUM})\s+(?P<pct>{_NUM})%\s+"
                       rf"(?P<cdf>{_NUM})%\s+(?P<mem>{_NUM})\s+(?P<times>\d+)\s*$")


def _numeric(fields: list[str]) -> bool:
    return all(re.fullmatch(rf"{_NUM}%?", field) for field in fields)


def _csv_fields(line: str, count: int, named: bool) -> Optional[list[str]]:
    """A CSV row's `count` fields, or None. The node type may hold ", " (XNNPACK's "Convolution (NHWC, QC8)
    GEMM"); so may an old version's node name (recent ones print its commas as tabs): whichever split leaves
    the numbers in the middle is the right one."""
    for fields in (line.rsplit(",", count - 1), line.split(",", count - 1)):
        fields = [field.strip() for field in fields]
        middle = fields[1:-1] if named else fields[1:]
        if len(fields) == count and _numeric(middle):
            return fields
    return None


def _node(match_or_fields, with_start: bool, csv: bool) -> dict:
    if csv:
        fields = match_or_fields
        if with_start:
            fields = fields[:1] + fields[2:]
        node_type, first, avg, pct, cdf, mem, times, name = fields
        name = name.replace("\t", ",")  # recent CSV output turns the commas in names into tabs
    else:
        group = match_or_fields.group
        node_type, first, avg, pct, cdf, mem, times, name = (group(k) for k in
                                                             ("type", "first", "avg", "pct", "cdf", "mem", "times",
                                                              "name"))
    # avg_ms is per call; an op run `times_called` times per inference costs ms_per_run
    return {"node_type": node_type.strip(), "name": name.strip(), "first_ms": float(first), "avg_ms": float(avg),
            "percent": float(pct.rstrip("%")), "cdf_percent": float(cdf.rstrip("%")), "mem_kb": float(mem),
            "times_called": int(times), "ms_per_run": float(avg) * int(times)}


def _type_row(fields_or_match, csv: bool) -> dict:
    if csv:
        node_type, count, avg, pct, cdf, mem, times = fields_or_match
    else:
        node_type, count, avg, pct, cdf, mem, times = (fields_or_match.group(k) for k in
                                                       ("type", "count", "avg", "pct", "cdf", "mem", "times"))
    return {"node_type": node_type.strip(), "count": int(count), "avg_ms": float(avg),
            "percent": float(pct.rstrip("%")), "cdf_percent": float(cdf.rstrip("%")), "mem_kb": float(mem),
            "times_called": int(times)}


def _run_section(text: str) -> Optional[list[str]]:
    """The lines of the regular-runs profile, log prefixes removed; None when there is none."""
    lines = [_LOG_PREFIX.sub("", line.rstrip("\r")) for line in text.splitlines()]
    starts = [i for i, line in enumerate(lines) if line.strip() == RUN_SECTION]
    if starts:
        lines = lines[starts[-1] + 1:]
    elif any(line.strip() == INIT_SECTION for line in lines):
        return None  # only the initialization profile: no op ran under the profiler
    return lines if any(_TITLE.match(line.strip()) for line in lines) else None


def parse_op_profile(text: str) -> Optional[dict]:
    """Reads benchmark_model's op profile from its output or its CSV file.

    Args:
        text: benchmark_model's log (with or without "INFO: " / logcat prefixes) or the content of
            its --op_profiling_output_file.

    Returns:
        {"format": "text" | "csv", "nodes": [...in run order], "node_types": [...by time],
         "delegate_nodes": [...]}, where a node is {"node_type", "name", "first_ms", "avg_ms", "percent",
        "cdf_percent", "mem_kb", "times_called", "ms_per_run"} and a node type {"node_type", "count",
        "avg_ms", "percent", "cdf_percent", "mem_kb", "times_called"}; None when the text holds no
        regular-runs profile.
        Only the primary graph's nodes are kept in "nodes" (other subgraphs' are in "subgraph_nodes").
    """
    lines = _run_section(text)
    if lines is None:
        return None
    profile = {"format": "text", "nodes": [], "node_types": [], "delegate_nodes": [], "subgraph_nodes": []}
    table, with_start, csv, subgraph, delegate = None, False, False, 0, False
    for raw in lines:
        line = raw.strip()
        title = _TITLE.match(line)
        if title:
            table = title.group(1)
            continue
        if line.startswith("Delegate internal:"):
            delegate, table = True, None
            continue
        if line.startswith("Subgraph (index: "):
            subgraph = int(line[len("Subgraph (index: "):].split(",")[0])
            continue
        if not line or table is None:
            continue
        if line.startswith("[") or line.startswith("node type,"):  # a header row says which shape follows
            with_start, csv = ("[start]" in line or ", start," in line), line.startswith("node type,")
            profile["format"] = "csv" if csv else "text"
            continue
        if table == "Run Order":
            fields = _csv_fields(line, 9 if with_start else 8, True) if csv else _node_row(with_start).match(raw)
            if not fields:
                continue
            node = _node(fields, with_start, csv)
            key = "delegate_nodes" if delegate else ("subgraph_nodes" if subgraph else "nodes")
            profile[key].append({**node, "subgraph": subgraph} if key == "subgraph_nodes" else node)
        elif table == "Summary by node type" and not delegate and not subgraph:
            fields = _csv_fields(line, 7, False) if csv else _TYPE_ROW.match(raw)
            if fields:
                profile["node_types"].append(_type_row(fields, csv))
    return profile if profile["nodes"] or profile["delegate_nodes"] else None


def top_nodes(profile: dict, count: int = 10) -> list[dict]:
    """The `count` slowest nodes (average ms per run), like benchmark_model's "Top by Computation Time"."""
    nodes = profile.get("nodes") or profile.get("delegate_nodes") or []
    return sorted(nodes, key=lambda node: node["ms_per_run"], reverse=True)[:count]
