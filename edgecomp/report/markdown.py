"""report.md: the run's plan, environment, stages and the artifact table, readable in any viewer."""

from __future__ import annotations

import json

from edgecomp.report import format as fmt
from edgecomp.report.deploy import DEPLOY_HEADER, deployment_rows
from edgecomp.report.schema import STATUS_LEGEND


def artifact_rows(report: dict) -> list[list[str]]:
    rows = []
    for a in report["artifacts"]:
        latency = a.get("latency_ms") or {}
        vs = a.get("vs_float32") or {}
        rows.append([
            a["name"], a["status"], a["precision"], fmt.size(a.get("size_bytes")), fmt.size(a.get("gzip_bytes")),
            fmt.percent(a.get("accuracy")), fmt.ms(latency.get("p50")), fmt.ms(latency.get("p90")),
            fmt.number(a.get("peak_rss_mb")), fmt.number(a.get("acc_per_mb")), fmt.number(a.get("acc_per_ms")),
            fmt.ratio(vs.get("size_ratio")), fmt.ratio(vs.get("latency_p50_ratio")), fmt.points(vs.get("accuracy_delta")),
        ])
    return rows


ARTIFACT_HEADER = ["artifact", "status", "precision", "size", "gzip", "accuracy", "p50 ms", "p90 ms",
                   "peak RSS MB", "acc/MB", "acc/ms", "smaller vs fp32", "faster vs fp32", "acc vs fp32"]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v)
    floor = report.get("timing_floor_ms") or {}
    parts = [
        f"# edgecomp report: {report['plan']['name']}",
        f"Created {report['created']} by edgecomp {report['edgecomp_version']} (`{report['command']}`), "
        f"{report['wall_seconds']} s wall time.",
        f"Target **{report['target']['name']}**; dataset **{report['dataset']['name']}** "
        f"({report['dataset']['source']}, {report['dataset']['test']} test images, "
        f"normalisation {report['dataset']['normalization']}).",
        f"Keras model: {fmt.number(report['keras']['params'], 9)} parameters, test accuracy "
        f"{fmt.percent(report['keras']['accuracy'])}.",
        "## Artifacts",
        _table(ARTIFACT_HEADER, artifact_rows(report)),
        "Status: " + "; ".join(f"**{k}**: {v}" for k, v in STATUS_LEGEND.items()) + ".",
        "Accuracy is measured through each artifact on the test images; latency is one image per "
        f"invocation with {report['plan']['bench']['threads']} thread(s). The runner's own timing floor "
        f"(a trivial model, same run) is p50 {fmt.ms(floor.get('p50'))} ms. MB = 10^6 bytes.",
    ]
    failures = [a for a in report["artifacts"] if a.get("error")]
    if failures:
        parts.append("### Problems\n" + "\n".join(f"- `{a['name']}`: {a['error']}" for a in failures))
    parity = [[a["name"], fmt.number(a["parity"]["top1_agreement"], 4), fmt.number(a["parity"]["max_abs_diff"]),
               fmt.number(a["parity"]["mean_abs_diff"]), "yes" if a["parity"]["passed"] else "NO"]
              for a in report["artifacts"] if a.get("parity")]
    if parity:
        parts += ["## Parity with Keras", _table(["artifact", "top-1 agreement", "max |diff|", "mean |diff|",
                                                  "passed"], parity)]
    parts += ["## Deployment checks", _table(DEPLOY_HEADER, deployment_rows(report))]
    stage_rows = [[s["stage"], f"{s['seconds']:.1f}", json.dumps({k: v for k, v in s["info"].items()
                                                                   if k != "history"})[:200]]
                  for s in report["stages"]]
    parts += ["## Stages", _table(["stage", "seconds", "details"], stage_rows),
              "## Environment", f"Host: {report['host']['cpu']}, {report['host']['cores']} cores, "
              f"{report['host']['os']}.", f"Versions: {versions}.",
              "## Plan", "```json\n" + json.dumps(report["plan"], indent=2) + "\n```"]
    return "\n\n".join(parts) + "\n"
