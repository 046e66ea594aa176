"""`edgecomp bench FILES --target A --target B ...`: every file on every target, one report.

Targets run one after another; each run is a whole `edgecomp bench` (its report in OUT/<target>/).
OUT/report.json gathers them: per target its status, and per file its latency, memory, accuracy and
whether it is that target's artifact to ship; plus the host's accuracy of each file, so each
device's accuracy can be set against it. A target that cannot be reached or fails midway is a
failed column with its reason, and the others go on.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Callable, Optional

from edgecomp.core.errors import BenchError, QualityGateError, TargetError, UsageError
from edgecomp.core.files import write_bytes_atomically
from edgecomp.core.version import __version__
from edgecomp.data.dataset import load_dataset
from edgecomp.plan.plan import BenchConfig
from edgecomp.reporting.multi_target import (
    failures,
    gate_violations,
    recommend_on_every_target,
    render_multi_markdown,
)
from edgecomp.reporting.recommend import recommended_of
from edgecomp.run.artifacts import write_sample
from edgecomp.run.existing_files import run_bench
from edgecomp.targets.host import HostTarget


def folder_name(target_name: str) -> str:
    """A target's subfolder: its profile name kept to plain characters."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", target_name)


def target_column(name: str, device, report: dict, report_path: str) -> dict:
    """What the combined report keeps of one target's run."""
    artifacts = {}
    for artifact in report["artifacts"]:
        latency = artifact.get("latency_ms") or {}
        artifacts[artifact["name"]] = {
            "status": artifact.get("status"), "error": artifact.get("error"), "p50_ms": latency.get("p50"),
            "model_mb": artifact.get("model_peak_mb"), "accuracy": artifact.get("accuracy"),
            "accuracy_source": artifact.get("accuracy_source")}
    return {"name": name, "kind": device.kind, "status": "ok", "error": None, "report": report_path,
            "recommended": recommended_of(report).get("name"), "artifacts": artifacts}


def failed_column(device, err: Exception) -> dict:
    """The column of a target that could not be reached or failed midway: its reason, no numbers."""
    return {"name": device.name, "kind": device.kind, "status": "failed", "error": str(err), "report": None,
            "recommended": None, "artifacts": {}}


def host_accuracies(paths: list[Path], data, settings: BenchConfig, out: Path) -> dict[str, Optional[float]]:
    """Each file's accuracy on this host's runner (one timed run: only the accuracy pass matters).

    Args:
        data: the loaded dataset whose test images measure accuracy (`edgecomp.data.dataset.Dataset`).
    """
    sample = write_sample(data, out / "host_sample.npz", settings.accuracy_samples)
    quick = settings.model_copy(update={"warmup": 0, "min_runs": 1, "min_time_s": 0.0, "max_runs": 1,
                                        "op_profile": False})
    outcomes = HostTarget().bench(list(paths), sample, quick)
    return {Path(o.artifact).name: (o.result or {}).get("accuracy") if o.ok else None for o in outcomes}


def refuse_repeated_targets(names: list[str]) -> None:
    """Two targets whose reports would share a folder (the same profile twice) are a usage error.

    Raises:
        UsageError: naming the repeated target.
    """
    seen: dict[str, str] = {}
    for name in names:
        folder = folder_name(name)
        if folder in seen:
            raise UsageError(f"target {name} is given twice (or shares its report folder {folder}/ with "
                             f"{seen[folder]}); give each --target once, a profile of another name to measure the "
                             "same device twice.")
        seen[folder] = name


def combined_header(run: str, command: str, dataset: str, paths: list[Path], columns: list[dict]) -> dict:
    """The keys every multi-target report starts with (`run`: "bench" or "build")."""
    return {"kind": "multi_target", "run": run, "edgecomp_version": __version__, "command": command,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "dataset": dataset, "artifacts": [Path(p).name for p in paths], "targets": columns}


def run_bench_on_targets(paths: list[Path], dataset: str, devices: list,
                         settings_for: Callable[[object], BenchConfig], out: Path, command: str = "",
                         gates: Optional[dict] = None) -> dict:
    """Benchmarks `paths` on each Target in turn and writes OUT/report.json and report.md.

    Args:
        devices: the Targets, in the order to run them (each named by its profile).
        settings_for: the benchmark settings for one Target (its profile's threads...).
        gates: the quality gates (`Gates.record()`), checked on every target's report.

    Returns:
        The combined report (see the module docstring), with `recommended` (the file to ship on every
        target) and `gate_violations`.
    """
    out.mkdir(parents=True, exist_ok=True)
    columns, reports = [], {}
    for device in devices:
        name = device.name
        folder = out / folder_name(name)
        try:
            report = run_bench(paths, dataset, device, settings_for(device), folder, command=command, gates=gates)
        except TargetError as err:  # unreachable, or gone midway: this column fails, the others go on
            columns.append(failed_column(device, err))
            continue
        reports[name] = report
        columns.append(target_column(name, device, report, f"{folder.name}/report.md"))
    settings = settings_for(devices[0])
    combined = {**combined_header("bench", command, dataset, paths, columns), "run_dir": str(out.resolve()),
                "gates": dict(gates or {}),
                "host_accuracy": host_accuracies(paths, load_dataset(dataset, test_limit=settings.accuracy_samples),
                                                 settings, out)}
    combined["recommended"] = recommend_on_every_target(combined, reports, gates)
    combined["gate_violations"] = gate_violations(reports, gates)
    write_bytes_atomically(out / "report.json", json.dumps(combined, indent=2).encode())
    write_bytes_atomically(out / "report.md", render_multi_markdown(combined).encode())
    return combined


def raise_for_failed_targets(combined: dict, out: Path) -> None:
    """Exit code 1 when a target, or a file on a target, failed; the report is already written.

    Raises:
        BenchError: with the first reason and where the others are.
    """
    problems = failures(combined)
    if problems:
        raise BenchError(f"{len(problems)} failure(s) ({problems[0]}{'; ...' if len(problems) > 1 else ''}); "
                         f"every reason is in {out}/report.md.")


def raise_for_missed_gates(combined: dict) -> None:
    """Exit code 3 when a quality gate was missed on a target; the report is already written.

    Raises:
        QualityGateError: naming every miss with its target.
    """
    missed = combined.get("gate_violations") or []
    if missed:
        raise QualityGateError(f"quality gate violation(s) ({len(missed)}): " + "; ".join(missed)
                               + ". The report files are written; relax a bound or change the plan.")
