"""`edgecomp build --target A --target B`: the model is compressed and exported once, then every file
is measured on each target in turn.

OUT/artifacts/ holds the files once, with their model cards (whose accuracy is the first target's that
measured them). OUT/<target>/ holds a whole build report per target: the stages, parity with Keras and
that device's measurements, its artifact paths pointing to ../artifacts/. OUT/report.json and report.md
gather them as `edgecomp bench` over several targets does (`edgecomp.run.multi_target`), plus the one
file to ship on every target (`edgecomp.reporting.multi_target.recommend_on_every_target`) and the quality
gates checked on every target.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Optional

from edgecomp.core.errors import TargetError
from edgecomp.core.files import write_bytes_atomically
from edgecomp.core.progress import step
from edgecomp.core.records import ArtifactRecord
from edgecomp.core.verbosity import THIRD_PARTY_LOG, quiet_third_party
from edgecomp.models.sanity import artifact_warnings
from edgecomp.plan.plan import BenchConfig, Plan
from edgecomp.reporting.assemble import assemble_report, write_reports
from edgecomp.reporting.multi_target import gate_violations, recommend_on_every_target, render_multi_markdown
from edgecomp.run.artifacts import bench_artifacts
from edgecomp.run.multi_target import (
    combined_header,
    failed_column,
    folder_name,
    host_accuracies,
    raise_for_failed_targets,
    raise_for_missed_gates,
    target_column,
)
from edgecomp.run.pipeline import compress_and_export, raise_for_float_parity
from edgecomp.run.quant_artifacts import describe_deployables
from edgecomp.targets.host import host_facts


def bench_settings(plan: Plan, target) -> BenchConfig:
    """The plan's benchmark settings on one target: its profile's threads unless the plan sets them."""
    profile = getattr(target, "profile", None)
    if "threads" in plan.bench.model_fields_set or profile is None:
        return plan.bench
    return plan.bench.model_copy(update={"threads": profile.threads})


def records_in(records: list[ArtifactRecord], run_dir: Path, folder: Path) -> list[ArtifactRecord]:
    """Copies of the exported records for one target's report in `folder`: the same files, their paths
    relative to `folder` (../artifacts/...), no measurement yet."""
    copies = copy.deepcopy(records)
    for record in copies:
        record.path = os.path.relpath(run_dir / record.path, folder)
    return copies


def run_build_on_targets(plan: Plan, run_dir: Path, targets: list, command: str = "",
                         gates: Optional[dict] = None, use_cache: bool = True) -> dict:
    """Runs the plan once and measures its files on each Target; returns the combined report (also written).

    Every target is checked (reached) before any training: an unreachable device fails the build at once,
    as with one target. A target lost while it measures becomes a failed column; the others go on.

    Args:
        plan: the resolved plan; `bench.threads`, when the plan leaves it unset, is each target profile's own.
        targets: the Targets, measured in this order.
        gates: the quality gates (`Gates.record()`), checked on every target's report.

    Returns:
        The combined report: `edgecomp.run.multi_target`'s keys, plus run_dir, keras, stages, gates,
        `recommended` (the file to ship on every target) and `gate_violations`.
    """
    with quiet_third_party(run_dir / THIRD_PARTY_LOG):
        return _run(plan, run_dir, targets, command, gates, use_cache)


def _run(plan: Plan, run_dir: Path, targets: list, command: str, gates: Optional[dict], use_cache: bool) -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    target_facts = {target.name: target.check() for target in targets}  # every device reached before training
    facts = {"target": targets[0], "target_facts": target_facts[targets[0].name], "host": host_facts(),
             "command": command, "gates": gates, "started": started}
    ctx, stage_records, keras, artifacts = compress_and_export(plan, run_dir, facts, use_cache)
    stage_warnings = list(ctx.warnings)
    measured: dict[str, tuple] = {}  # target name -> (its report folder, its records, its timing floor)
    columns: dict[str, dict] = {}
    for index, target in enumerate(targets, start=1):
        step(f"target {index}/{len(targets)}: {target.name}")
        folder = run_dir / folder_name(target.name)
        records = records_in(artifacts, run_dir, folder)
        try:
            floor = bench_artifacts(records, ctx.data, folder, target, bench_settings(plan, target))
        except TargetError as err:  # lost midway: this column fails, the others go on
            columns[target.name] = failed_column(target, err)
            continue
        measured[target.name] = (folder, records, floor)
    _describe_once(measured, artifacts, run_dir, ctx.data)
    reports = {}
    for target in targets:
        if target.name not in measured:
            continue
        folder, records, floor = measured[target.name]
        report = assemble_report(
            plan=plan.model_copy(update={"bench": bench_settings(plan, target)}), data=ctx.data, run_dir=folder,
            stages=stage_records, keras_info=keras, artifacts=records, timing_floor=floor, target=target,
            target_facts=target_facts[target.name], host=facts["host"], command=command,
            wall_seconds=time.perf_counter() - started, gates=gates, warnings=stage_warnings)
        report["warnings"] += [w.to_dict() for w in artifact_warnings(report, ctx.data.labels("test"),
                                                                      ctx.data.num_classes)]
        write_reports(report, folder)
        reports[target.name] = report
        columns[target.name] = target_column(target.name, target, report, f"{folder.name}/report.md")
    return _write_combined(plan, run_dir, targets, columns, reports, artifacts, ctx.data, stage_records, keras,
                           gates, command)


def _describe_once(measured: dict, artifacts: list[ArtifactRecord], run_dir: Path, data) -> None:
    """Model cards (with the first measured target's accuracy) and the tflite-runtime 2.14 check, once
    for all targets: they measured the same files. Every target's records get the card's path and the check."""
    if not measured:  # no target measured anything: cards without an accuracy
        describe_deployables(artifacts, run_dir, data)
        return
    (folder, described, _floor), *others = measured.values()
    describe_deployables(described, folder, data)
    for _folder, records, _floor in others:  # every report folder is OUT/<target>: the same relative paths
        for record, first in zip(records, described):
            record.model_card, record.tflite_runtime_2_14 = first.model_card, first.tflite_runtime_2_14


def _write_combined(plan: Plan, run_dir: Path, targets: list, columns: dict, reports: dict,
                    artifacts: list[ArtifactRecord], data, stage_records: list[dict], keras: dict,
                    gates: Optional[dict], command: str) -> dict:
    """OUT/report.json and report.md: a column group per target, the file for every target, the gates."""
    files = [run_dir / a.path for a in artifacts]
    existing = [path for path in files if path.is_file()]
    settings = bench_settings(plan, targets[0])
    combined = {**combined_header("build", command, data.name, files, [columns[t.name] for t in targets]),
                "run_dir": str(run_dir.resolve()), "plan": plan.model_dump(mode="json"), "keras": keras,
                "stages": [{key: record.get(key) for key in ("stage", "seconds", "cached")}
                           for record in stage_records],
                "gates": dict(gates or {}),
                "host_accuracy": host_accuracies(existing, data, settings, run_dir) if existing else {}}
    combined["recommended"] = recommend_on_every_target(combined, reports, gates)
    combined["gate_violations"] = gate_violations(reports, gates)
    write_bytes_atomically(run_dir / "report.json", json.dumps(combined, indent=2).encode())
    write_bytes_atomically(run_dir / "report.md", render_multi_markdown(combined).encode())
    return combined


def raise_for_targets(combined: dict, reports: list[dict]) -> None:
    """The exit of a build on several targets; every report is already written.

    Raises:
        ExportError: a float export disagrees with the Keras model (the same files on every target).
        BenchError: a target failed, or a file failed on a target (exit code 1).
        QualityGateError: a quality gate was missed on a target (exit code 3).
    """
    for report in reports[:1]:
        raise_for_float_parity(report)
    raise_for_failed_targets(combined, Path(combined["run_dir"]))
    raise_for_missed_gates(combined)
