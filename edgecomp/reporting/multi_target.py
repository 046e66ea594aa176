"""The report of one `edgecomp bench` over several targets: a column group per device.

Rows are the files; each target brings four columns (latency p50, the model's memory, accuracy on
the device, and that accuracy against the same file's on the host). A target that failed shows
"failed" in its columns and its reason under the table; ★ marks each target's artifact to ship.
"""

from __future__ import annotations

import json
from typing import Callable, Optional

from edgecomp.reporting import cells
from edgecomp.reporting.markdown import markdown_table
from edgecomp.reporting.recommend import MARK
from edgecomp.reporting.tables import Column, Row, Table, value

FAILED = "failed"


def _cell(target: dict, name: str, show: Callable[[dict], str]) -> str:
    if target["status"] != "ok":
        return FAILED
    artifact = target["artifacts"].get(name)
    if artifact is None or artifact["status"] == "failed":
        return FAILED
    return show(artifact)


def _versus_host(artifact: dict, host_accuracy: Optional[float]) -> str:
    if artifact.get("accuracy_source") == "host":
        return "= host"  # the device cannot compute accuracy (adb: benchmark_model has no labels)
    if artifact.get("accuracy") is None or host_accuracy is None:
        return cells.DASH
    return cells.points(artifact["accuracy"] - host_accuracy)


def target_columns(target: dict) -> list[Column]:
    """The four columns of one device."""
    label = target["name"]

    def latency(row: dict) -> str:
        mark = f"{MARK} " if target.get("recommended") == row["name"] else ""
        return _cell(target, row["name"], lambda a: mark + cells.ms(a.get("p50_ms")))

    return [
        Column(f"{label} p50 ms", latency, numeric=True, no_wrap=True),
        Column(f"{label} model MB", lambda row: _cell(target, row["name"], lambda a: cells.number(a.get("model_mb"))),
               numeric=True),
        Column(f"{label} accuracy", lambda row: _cell(target, row["name"], lambda a: cells.percent(a.get("accuracy"))),
               numeric=True),
        Column(f"{label} vs host", lambda row: _cell(target, row["name"],
                                                     lambda a: _versus_host(a, row["host_accuracy"])), numeric=True),
    ]


def multi_target_table(combined: dict) -> Table:
    """Files (rows) x targets (column groups)."""
    columns = [value("name", "artifact", no_wrap=True)]
    for target in combined["targets"]:
        columns += target_columns(target)
    host = combined.get("host_accuracy") or {}
    return Table(columns, [Row({"name": name, "host_accuracy": host.get(name)}) for name in combined["artifacts"]])


def failures(combined: dict) -> list[str]:
    """One line per failed target, then per file that failed on a target."""
    lines = [f"target {t['name']} failed: {t['error']}" for t in combined["targets"] if t["status"] != "ok"]
    for target in combined["targets"]:
        for name, artifact in (target.get("artifacts") or {}).items():
            if artifact["status"] == "failed":
                lines.append(f"{name} failed on {target['name']}: {artifact.get('error')}")
    return lines


LEGEND = (f"p50 ms: latency median, one image per invocation; model MB: the model's own peak memory (MB = 10^6 "
          f"bytes); accuracy: on the device's runtime; vs host: that accuracy minus the same file's on this "
          f"host (= host: the device cannot measure it and shows the host's). {MARK}: the target's artifact to "
          "ship (its own report says why).")


def render_multi_markdown(combined: dict) -> str:
    """report.md of a multi-target bench."""
    parts = [f"# edgecomp bench on {len(combined['targets'])} targets",
             f"Created {combined['created']} by edgecomp {combined['edgecomp_version']} (`{combined['command']}`); "
             f"dataset **{combined['dataset']}**. Targets one after another; each has its own full report: "
             + ", ".join(f"[{t['name']}]({t['report']})" for t in combined["targets"] if t.get("report")) + ".",
             markdown_table(multi_target_table(combined)), LEGEND]
    problems = failures(combined)
    if problems:
        parts.append("### Problems\n" + "\n".join(f"- {line}" for line in problems))
    parts.append("## Targets\n```json\n" + json.dumps([{k: t.get(k) for k in ("name", "kind", "status", "error")}
                                                       for t in combined["targets"]], indent=2) + "\n```")
    return "\n\n".join(parts) + "\n"
