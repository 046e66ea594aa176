"""The report of one `edgecomp bench` or `edgecomp build` over several targets: a column group per device.

Rows are the files; each target brings four columns (latency p50, the model's memory, accuracy on
the device, and that accuracy against the same file's on the host). A target that failed shows
"failed" in its columns and its reason under the table; ★ in a target's p50 column marks that
target's own artifact to ship. A build's combined report also names one artifact to ship on every
target (★ before the file name): the ★ rule applied to each file's worst case over the targets
(`worst_case_report`), so the most constrained device decides.
"""

from __future__ import annotations

import json
from typing import Callable, Optional

from edgecomp.core.emulation import is_emulated
from edgecomp.reporting import cells
from edgecomp.reporting.gates import check_gates
from edgecomp.reporting.markdown import markdown_table
from edgecomp.reporting.recommend import MARK, WITHIN_POINTS, pick
from edgecomp.reporting.tables import Column, Row, Table, value

FAILED = "failed"
# Keys of a report.json artifact that do not depend on the device that measured it.
_FILE_KEYS = ("name", "format", "precision", "role", "path", "size_bytes", "gzip_bytes", "params", "parity")


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
    """Files (rows) x targets (column groups); ★ before the file every target should get, when one was picked."""
    every = (combined.get("recommended") or {}).get("name")
    columns = [Column("artifact", lambda row: (f"{MARK} " if row["name"] == every else "") + row["name"],
                      no_wrap=True)] if every else [value("name", "artifact", no_wrap=True)]
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


def worst_case_report(reports: dict[str, dict]) -> dict:
    """Each file's worst case over the targets' reports, as a report.json document `pick` and
    `check_gates` read: the lowest accuracy, the slowest p50, the largest model memory; `failed` when
    it failed on any target, `parity_failed` when its parity failed, emulated when any measurement was.

    Args:
        reports: target name -> that target's report.json (targets that failed entirely left out).

    Returns:
        {"artifacts": [...]} in the first report's order; each entry also says on which target each
        worst number was measured (`worst_on`).
    """
    if not reports:
        return {"artifacts": []}
    first = next(iter(reports.values()))
    merged = []
    for entry in first["artifacts"]:
        name = entry["name"]
        measured = {target: next(a for a in report["artifacts"] if a["name"] == name)
                    for target, report in reports.items()}
        worst = {key: entry.get(key) for key in _FILE_KEYS if key in entry}
        failed = {t: a for t, a in measured.items() if a["status"] == "failed"}
        if failed:
            target, artifact = next(iter(failed.items()))
            worst.update(status="failed", error=f"on {target}: {artifact.get('error')}")
        else:
            worst.update(status=entry["status"], error=entry.get("error"))
        worst["emulated"] = any(is_emulated(a) for a in measured.values())
        worst["worst_on"] = {}
        for key, choose, read in (("accuracy", min, lambda a: a.get("accuracy")),
                                  ("p50", max, lambda a: (a.get("latency_ms") or {}).get("p50")),
                                  ("model_peak_mb", max, lambda a: a.get("model_peak_mb"))):
            values = {t: read(a) for t, a in measured.items()}
            if failed or None in values.values():
                worst_value = None
            else:
                worst_target = choose(values, key=values.get)
                worst_value = values[worst_target]
                worst["worst_on"][key] = worst_target
            if key == "p50":
                worst["latency_ms"] = {"p50": worst_value}
            else:
                worst[key] = worst_value
        merged.append(worst)
    return {"artifacts": merged}


EVERY_TARGET_RULE = (f"{MARK} before a file name: the artifact to ship on every target: the {MARK} rule applied to "
                     "each file's worst case over the targets (its lowest accuracy, slowest p50, largest memory; "
                     "failed on any target counts as failed), so the most constrained device decides.")


def recommend_on_every_target(combined: dict, reports: dict[str, dict], gates: Optional[dict]) -> dict:
    """The one artifact to ship on every target, and why (see EVERY_TARGET_RULE).

    Args:
        combined: the combined report so far (its `targets` say which failed).
        reports: target name -> report.json of every target that ran.
        gates: the quality gates given to the command (None values unbounded).

    Returns:
        {"name", "rule", "reason"} like `edgecomp.reporting.recommend.pick`, plus "per_target": each
        target's own pick.
    """
    per_target = {t["name"]: t.get("recommended") for t in combined["targets"]}
    down = [t["name"] for t in combined["targets"] if t["status"] != "ok"]
    if down:
        return {"name": None, "rule": "gates" if _bounded(gates) else "within_1pt", "per_target": per_target,
                "reason": f"target(s) {', '.join(down)} failed, so no file can be shown to work on every target."}
    picked = pick(worst_case_report(reports), gates or {})
    picked["per_target"] = per_target
    picked["reason"] = "over every target's worst case, " + picked["reason"]
    return picked


def _bounded(gates: Optional[dict]) -> bool:
    return any((gates or {}).get(key) is not None for key in ("max_size_mb", "max_latency_ms", "min_accuracy"))


def gate_violations(reports: dict[str, dict], gates: Optional[dict]) -> list[str]:
    """Every missed quality gate, on every target; one line each, prefixed with the target.

    With scope "every" each file must meet the gates on each target; with scope "any" one ok file must
    meet them all on every target at once (checked on the worst case over the targets), else every miss
    is listed.
    """
    if not _bounded(gates):
        return []
    bounds = {key: gates.get(key) for key in ("max_size_mb", "max_latency_ms", "min_accuracy")}
    scope = gates.get("scope") or "every"
    if scope == "any" and not check_gates(worst_case_report(reports), scope="any", **bounds):
        return []
    return [f"on {target}: {line}" for target, report in reports.items()
            for line in check_gates(report, scope="every", **bounds)]


LEGEND = (f"p50 ms: latency median, one image per invocation; model MB: the model's own peak memory (MB = 10^6 "
          f"bytes); accuracy: on the device's runtime; vs host: that accuracy minus the same file's on this "
          f"host (= host: the device cannot measure it and shows the host's). {MARK} in a target's p50 column: that "
          "target's artifact to ship (its own report says why).")


def every_target_legend(combined: dict) -> str:
    """The sentence saying which file to ship on every target and why ('' when none was picked)."""
    picked = combined.get("recommended")
    if not picked:
        return ""
    rule = EVERY_TARGET_RULE + (" With quality gates: the most accurate file meeting every gate on every target."
                                if picked["rule"] == "gates" else
                                f" Without gates: the smallest file within {WITHIN_POINTS:g} point of the most "
                                "accurate.")
    return f"{rule} Here: {picked['name'] or 'none'}, {picked['reason']}"


def render_multi_markdown(combined: dict) -> str:
    """report.md of a multi-target bench or build."""
    run = combined.get("run", "bench")
    parts = [f"# edgecomp {run} on {len(combined['targets'])} targets",
             f"Created {combined['created']} by edgecomp {combined['edgecomp_version']} (`{combined['command']}`); "
             f"dataset **{combined['dataset']}**. "
             + ("The model was compressed and exported once, then every file was measured on each target. "
                if run == "build" else "")
             + "Targets ran one after another; each has its own full report: "
             + ", ".join(f"[{t['name']}]({t['report']})" for t in combined["targets"] if t.get("report")) + ".",
             markdown_table(multi_target_table(combined)), LEGEND]
    if combined.get("recommended"):
        parts.append(every_target_legend(combined))
    problems = failures(combined)
    if problems:
        parts.append("### Problems\n" + "\n".join(f"- {line}" for line in problems))
    if combined.get("gate_violations"):
        parts.append("### Quality gates missed\n" + "\n".join(f"- {line}" for line in combined["gate_violations"]))
    parts.append("## Targets\n```json\n" + json.dumps([{k: t.get(k) for k in ("name", "kind", "status", "error")}
                                                       for t in combined["targets"]], indent=2) + "\n```")
    return "\n\n".join(parts) + "\n"
