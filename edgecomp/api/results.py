"""What `edgecomp.build` and `edgecomp.bench` return: typed, frozen views of a run's report.json.

report.json stays the source of truth (`Result.report`); the fields are what a script reads most:
the artifacts, the one to ship (★), the stages, the warnings, the plan as resolved. In Jupyter the
last line of a cell shows the artifact table, the ★ legend and the Pareto plots, drawn by the same
code as report.html (`edgecomp.reporting.html`, `.tables`, `.plots`). A build on several targets
returns a `MultiTargetResult`: one `BuildResult` per target and the file to ship on every target.

Examples:
    >>> from edgecomp.api.results import BuildResult
    >>> result = BuildResult.from_report({"run_dir": "runs/empty", "artifacts": []})
    >>> result.recommended is None, result.target
    (True, '?')
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Optional

from edgecomp.core.errors import DependencyError


def _pandas(instead: str):
    """pandas, or a DependencyError naming the attribute to read instead."""
    try:
        import pandas
    except ImportError:
        raise DependencyError(f"to_pandas() needs pandas: `pip install pandas`, or read `{instead}` or "
                              "`.to_dict()` instead.") from None
    return pandas


@dataclass(frozen=True)
class Artifact:
    """One exported (or brought) model file and what was measured through it on the target.

    Attributes:
        name: the file name, e.g. "model_int8.tflite".
        format: "tflite" or "onnx". precision: "float32", "int8", "qat_int8", ...
        status: "ok", "parity_failed" (disagrees with the Keras model) or "failed" (see `error`).
        path: the file (absolute), or None when the export failed.
        size_bytes: raw file size. accuracy: top-1 on the test images, a fraction (0..1).
        latency_p50_ms: single-image latency median on the target. model_peak_mb: the model's own peak memory.
        recommended: True for the artifact to ship (★). error: why it failed, or None.
    """

    name: str
    format: str
    precision: str
    status: str
    path: Optional[Path]
    size_bytes: Optional[int]
    accuracy: Optional[float]
    latency_p50_ms: Optional[float]
    model_peak_mb: Optional[float]
    recommended: bool = False
    error: Optional[str] = None

    @classmethod
    def from_entry(cls, entry: dict, run_dir: Path, recommended_name: Optional[str]) -> "Artifact":
        path = entry.get("path") if entry["status"] != "failed" else None  # a failed export left no file
        return cls(name=entry["name"], format=entry.get("format", "?"), precision=entry.get("precision", "?"),
                   status=entry["status"], path=(run_dir / path).resolve() if path else None,
                   size_bytes=entry.get("size_bytes"), accuracy=entry.get("accuracy"),
                   latency_p50_ms=(entry.get("latency_ms") or {}).get("p50"),
                   model_peak_mb=entry.get("model_peak_mb"), recommended=entry["name"] == recommended_name,
                   error=entry.get("error"))


@dataclass(frozen=True)
class Stage:
    """One finished stage of a build: its name, wall time, whether the stage cache supplied it, its info."""

    name: str
    seconds: Optional[float]
    cached: bool
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the report's own word; it shadows the builtin only inside this module
    """A sanity check's finding: `code` for scripts, `message` with the numbers, `hint` what to change."""

    code: str
    message: str
    hint: str


@dataclass(frozen=True)
class BuildResult:
    """A finished build (or benchmark): the artifacts, the one to ship, stages, warnings, the resolved plan.

    Attributes:
        run_dir: the run folder (report.json, report.md, report.html, the artifacts).
        artifacts: every artifact, failed ones included, in report order.
        recommended: the artifact to ship (★), or None when no artifact qualifies.
        recommended_reason: one sentence: the rule and why this artifact.
        stages: the stages as run. warnings: the sanity checks' findings.
        plan: the plan as resolved (every default filled in), as report.json records it.
        target: the target profile's name. keras_accuracy: the Keras model's test accuracy (None for a bench).
        report: the whole report.json document.
    """

    run_dir: Path
    artifacts: tuple[Artifact, ...]
    recommended: Optional[Artifact]
    recommended_reason: str
    stages: tuple[Stage, ...]
    warnings: tuple[Warning, ...]
    plan: dict
    target: str
    keras_accuracy: Optional[float]
    report: dict = field(repr=False)

    @classmethod
    def from_report(cls, report: dict):
        """The result of a report.json document (as written by a build or a bench)."""
        run_dir = Path(report["run_dir"])
        picked = report.get("recommended") or {}
        artifacts = tuple(Artifact.from_entry(a, run_dir, picked.get("name")) for a in report["artifacts"])
        return cls(run_dir=run_dir, artifacts=artifacts,
                   recommended=next((a for a in artifacts if a.recommended), None),
                   recommended_reason=str(picked.get("reason") or ""),
                   stages=tuple(Stage(s.get("stage", "?"), s.get("seconds"), bool(s.get("cached")),
                                      s.get("info") or {}) for s in report.get("stages") or []),
                   warnings=tuple(Warning(w["code"], w["message"], w.get("hint", ""))
                                  for w in report.get("warnings") or []),
                   plan=report.get("plan") or {}, target=(report.get("target") or {}).get("name", "?"),
                   keras_accuracy=(report.get("keras") or {}).get("accuracy"), report=report)

    def to_dict(self) -> dict:
        """The report.json document (a deep copy: JSON-ready, safe to change)."""
        return json.loads(json.dumps(self.report))

    def to_pandas(self):
        """The artifacts as a pandas DataFrame, one row per artifact (the `Artifact` fields).

        Raises:
            DependencyError: pandas is not installed.
        """
        return _pandas(".artifacts").DataFrame([asdict(artifact) for artifact in self.artifacts])

    def raise_for_status(self) -> None:
        """Raises what `edgecomp build` / `bench` exit with: a float export disagreeing with Keras, a failed
        artifact, then a missed quality gate (the order of the CLI's exit codes 1, 1, 3).

        Raises:
            ExportError: a float32 export disagrees with the Keras model.
            BenchError: an artifact failed to export or to run.
            QualityGateError: a quality gate given to the build was missed.
        """
        from edgecomp.reporting.gates import raise_for_gates
        from edgecomp.run.pipeline import raise_for_failed_artifacts, raise_for_float_parity

        raise_for_float_parity(self.report)
        raise_for_failed_artifacts(self.report)
        gates = self.report.get("gates") or {}
        raise_for_gates(self.report, scope=gates.get("scope") or "every",
                        **{key: gates.get(key) for key in ("max_size_mb", "max_latency_ms", "min_accuracy")})

    def _repr_html_(self) -> str:
        """Jupyter's rendering: the artifact table with ★, its notes, warnings and the Pareto plots."""
        from edgecomp.reporting.html import html_table, image
        from edgecomp.reporting.plots import accuracy_vs_latency_png, accuracy_vs_size_png
        from edgecomp.reporting.tables import artifact_table, table_notes

        artifacts = self.report["artifacts"]
        plots = {"Accuracy vs size": accuracy_vs_size_png(artifacts),
                 "Accuracy vs latency": accuracy_vs_latency_png(artifacts)}
        warnings = "".join(f"<li><b>{escape(w.code)}</b>: {escape(w.message)}</li>" for w in self.warnings)
        return (f"<div class=\"edgecomp-result\"><p><b>edgecomp {escape(type(self).__name__)}</b>: "
                f"{len(self.artifacts)} artifact(s) on target <b>{escape(self.target)}</b>, in "
                f"<code>{escape(str(self.run_dir))}</code></p>"
                + html_table(artifact_table(self.report))
                + "".join(f"<p>{escape(note)}</p>" for note in table_notes(self.report))
                + (f"<ul>{warnings}</ul>" if warnings else "")
                + "".join(image(png, caption) for caption, png in plots.items()) + "</div>")

    def __str__(self) -> str:
        shown = self.recommended.name if self.recommended else "none"
        return (f"{type(self).__name__}({len(self.artifacts)} artifacts in {self.run_dir}, recommended: {shown}, "
                f"{len(self.warnings)} warning(s))")


class BenchResult(BuildResult):
    """A finished `edgecomp.bench` of files you brought: no stages and no Keras model, else a BuildResult."""


@dataclass(frozen=True)
class MultiTargetResult:
    """A build measured on several targets (`edgecomp.build(..., target=["a", "b"])`): the model was
    compressed and exported once, then every file was measured on each target.

    Attributes:
        run_dir: the run folder: report.json / report.md (a column group per target), artifacts/, and each
            target's full build report in its own subfolder.
        targets: the target names, in the order measured.
        per_target: target name -> its `BuildResult` (targets that failed entirely are left out).
        failed_targets: target name -> why it failed (unreachable, or lost midway).
        artifacts: every file with its worst case over the targets (lowest accuracy, slowest p50, largest
            memory; failed when it failed on any target), in report order.
        recommended: the file to ship on every target (★), judged on that worst case, or None.
        recommended_reason: one sentence: the rule and why this file.
        report: the combined report.json document.
    """

    run_dir: Path
    targets: tuple[str, ...]
    per_target: dict
    failed_targets: dict
    artifacts: tuple[Artifact, ...]
    recommended: Optional[Artifact]
    recommended_reason: str
    report: dict = field(repr=False)

    @classmethod
    def from_reports(cls, combined: dict, reports: dict[str, dict]) -> "MultiTargetResult":
        """The result of a combined report and the per-target reports it gathers (target name -> report.json)."""
        from edgecomp.reporting.multi_target import worst_case_report

        run_dir = Path(combined["run_dir"])
        picked = combined.get("recommended") or {}
        worst = worst_case_report(reports)["artifacts"]
        # Paths are relative to a target's report folder (../artifacts/...), the same for every target.
        folder = Path(next(iter(reports.values()))["run_dir"]) if reports else run_dir
        artifacts = tuple(Artifact.from_entry(entry, folder, picked.get("name")) for entry in worst)
        return cls(run_dir=run_dir, targets=tuple(t["name"] for t in combined["targets"]),
                   per_target={name: BuildResult.from_report(report) for name, report in reports.items()},
                   failed_targets={t["name"]: t["error"] for t in combined["targets"] if t["status"] != "ok"},
                   artifacts=artifacts, recommended=next((a for a in artifacts if a.recommended), None),
                   recommended_reason=str(picked.get("reason") or ""), report=combined)

    def to_dict(self) -> dict:
        """The combined report.json document (a deep copy)."""
        return json.loads(json.dumps(self.report))

    def to_pandas(self):
        """One row per file and target: the `Artifact` fields and the target's name.

        Raises:
            DependencyError: pandas is not installed.
        """
        return _pandas(".per_target").DataFrame([{"target": name, **asdict(artifact)} for name, result in self.per_target.items()
                                 for artifact in result.artifacts])

    def raise_for_status(self) -> None:
        """Raises what `edgecomp build --target a --target b` exits with: a float export disagreeing with
        Keras, then a failed target or a file failed on a target (1), then a quality gate missed on any
        target (3).

        Raises:
            ExportError, BenchError, QualityGateError: as `BuildResult.raise_for_status`, over every target.
        """
        from edgecomp.run.build_on_targets import raise_for_targets

        raise_for_targets(self.report, [result.report for result in self.per_target.values()])

    def _repr_html_(self) -> str:
        """Jupyter's rendering: the column group per target, its legend and the file for every target."""
        from edgecomp.reporting.html import html_table
        from edgecomp.reporting.multi_target import LEGEND, every_target_legend, multi_target_table

        notes = [LEGEND, every_target_legend(self.report)] + [f"{name} failed: {error}"
                                                             for name, error in self.failed_targets.items()]
        return (f"<div class=\"edgecomp-result\"><p><b>edgecomp MultiTargetResult</b>: {len(self.artifacts)} "
                f"artifact(s) on {len(self.targets)} targets ({escape(', '.join(self.targets))}), in "
                f"<code>{escape(str(self.run_dir))}</code></p>" + html_table(multi_target_table(self.report))
                + "".join(f"<p>{escape(note)}</p>" for note in notes if note) + "</div>")

    def __str__(self) -> str:
        shown = self.recommended.name if self.recommended else "none"
        return (f"MultiTargetResult({len(self.artifacts)} artifacts on {', '.join(self.targets)} in {self.run_dir}, "
                f"recommended on every target: {shown})")


__all__ = ["Artifact", "BenchResult", "BuildResult", "MultiTargetResult", "Stage", "Warning"]
