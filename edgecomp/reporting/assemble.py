"""Builds report.json from what a run measured, and writes every report file atomically."""

from __future__ import annotations

import datetime
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Optional

from edgecomp.core.files import write_bytes_atomically
from edgecomp.core.records import ArtifactRecord, RunWarning
from edgecomp.core.version import __version__
from edgecomp.measure.metrics import artifact_efficiency, ratios_vs
from edgecomp.plan.precisions import BASELINE_PRECISION
from edgecomp.reporting.html import write_html
from edgecomp.reporting.markdown import render_markdown
from edgecomp.reporting.op_overlay import write_op_overlays
from edgecomp.reporting.recommend import recommend
from edgecomp.reporting.schema import SCHEMA_VERSION

VERSIONED_PACKAGES = ["numpy", "tensorflow", "tf_keras", "tensorflow-model-optimization", "ai-edge-litert",
                      "onnx", "onnxruntime", "tf2onnx", "typer"]

def package_versions() -> dict:
    """Installed versions of the packages whose behaviour decides the numbers."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions

def artifact_entries(records: list[ArtifactRecord]) -> list[dict]:
    """The report.json artifact entries: each record, with acc/MB, acc/ms and the ratios against
    the float32 baseline of the same format."""
    artifacts = [record.to_dict() for record in records]
    # Each format is compared with its own float32 file (one runtime against itself); for TFLite
    # that is the original model's file when stages replaced the model (distilled, pruned).
    baselines = {a["format"]: a for a in reversed(artifacts) if a["precision"] == BASELINE_PRECISION}
    baselines.update({a["format"]: a for a in artifacts if a.get("role") == "original"})
    for artifact in artifacts:
        artifact.update(artifact_efficiency(artifact))
        baseline = baselines.get(artifact["format"])
        artifact["vs_float32"] = ratios_vs(baseline, artifact) if baseline else None
    return artifacts

def assemble_report(*, plan, data, run_dir: Path, stages: list[dict], keras_info: dict,
                    artifacts: list[ArtifactRecord], timing_floor: Optional[dict], target, target_facts: dict, host: dict,
                    command: str, wall_seconds: float, gates: Optional[dict] = None,
                    warnings: Optional[list[RunWarning]] = None) -> dict:
    """The report.json document of a build or a bench (see `edgecomp.reporting.schema`).

    `gates` are the quality gates the command was given; they decide the recommended artifact.
    `host` is the machine that ran the command (`edgecomp.targets.host.host_facts()`).
    `warnings` are the sanity checks' findings (`edgecomp.models.sanity`).
    """

    report = {
        "schema_version": SCHEMA_VERSION,
        "edgecomp_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "run_dir": str(run_dir.resolve()),
        "wall_seconds": round(wall_seconds, 1),
        "plan": plan.model_dump(mode="json"),
        "dataset": data.describe(),
        "versions": package_versions(),
        "host": host,
        "target": {"name": target.name, "kind": getattr(target, "kind", target.name), "facts": target_facts},
        "stages": stages,
        "keras": keras_info,
        "timing_floor_ms": timing_floor,
        "gates": dict(gates or {}),
        "warnings": [warning.to_dict() for warning in warnings or []],
        "artifacts": artifact_entries(artifacts),
    }
    report["recommended"] = recommend(report)
    return report

def write_reports(report: dict, run_dir: Path) -> None:
    """report.json (the source of truth), report.md and the self-contained report.html beside it, and a
    Model Explorer overlay of each op-profiled file's per-op times (`op_overlay`)."""

    write_bytes_atomically(run_dir / "report.json", json.dumps(report, indent=2).encode())
    write_bytes_atomically(run_dir / "report.md", render_markdown(report).encode())
    write_html(report, run_dir / "report.html")
    write_op_overlays(report, run_dir)
