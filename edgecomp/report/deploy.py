"""The deployment-checks table shared by report.md and report.html: what an app developer needs
to know before shipping each file (sparsity really in the file, loads in tflite-runtime 2.14, the
runtime it was measured with, its model card)."""

from __future__ import annotations

from edgecomp.report import format as fmt

DEPLOY_HEADER = ["artifact", "zeros in file", "loads in tflite-runtime 2.14", "measured with", "model card"]


def _runtime_check(check) -> str:
    if not check:
        return fmt.DASH
    if check.get("skipped"):
        return "not checked: " + str(check.get("error") or "")
    return "yes" if check.get("ok") else "NO: " + str(check.get("error") or "")


def deployment_rows(report: dict) -> list[list[str]]:
    rows = []
    for artifact in report.get("artifacts") or []:
        sparsity = artifact.get("sparsity") or {}
        runtime = artifact.get("runtime") or {}
        rows.append([
            str(artifact.get("name")),
            fmt.percent(sparsity.get("overall")),
            _runtime_check(artifact.get("tflite_runtime_2_14")),
            f"{runtime.get('name')} {runtime.get('version')}" if runtime else fmt.DASH,
            str(artifact.get("model_card") or fmt.DASH),
        ])
    return rows
