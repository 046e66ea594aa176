"""The typed records that travel between the steps of a run: what stages hand to export
(`ExportInputs`) and what each artifact's export and benchmark found (`ArtifactRecord`).

A leaf module (the standard library and `edgecomp.core.errors`), so the stages, the exporters, the
bench command and the report can all import it. An `ArtifactRecord` becomes a report.json entry in one place,
`ArtifactRecord.to_dict`, called when the report is assembled (see `edgecomp.reporting.schema`).
What code decides on (where accuracy was measured, whether the device was emulated, the host's
accuracy beside an emulated board's) is a typed field with its own report.json key; what a target
merely notes (temperatures, a cleanup error) stays in `target_notes`, written under its own key so
a note can never stand in for a measurement.
A `RunWarning` is what a sanity check (`edgecomp.models.sanity`) found: report.json's `warnings`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Optional

from edgecomp.core.errors import InternalError


class QatScheme(str, enum.Enum):
    """The tfmot quantize scheme a QAT model was built with (`edgecomp.compress.qat.build_qat_model`)."""

    DEFAULT_8BIT = "default_8bit"
    PRUNE_PRESERVING = "prune_preserving"  # keeps a pruned model's zeros

    @property
    def prune_preserving(self) -> bool:
        return self is QatScheme.PRUNE_PRESERVING


@dataclass
class ExportInputs:
    """What the stages leave for the export step besides `RunContext.model`; one writer per field.

    The quantization settings are the `quantize` stage's own (`QuantizeConfig`), copied here by
    that stage; the defaults below are that config's defaults and apply when the plan has no
    `quantize` stage (a `qat` stage's int8 file still calibrates its float fallbacks).
    """

    original_model: Any = None  # the pipeline, after `train`: the "before" of every comparison
    float_model: Any = None  # `qat`: the model before QAT, which every non-QAT artifact comes from
    pruned: bool = False  # `prune`: the kernels hold zeros (QAT keeps them, float files store them sparse)
    calibration_samples: int = 500  # `quantize`: training images that calibrate integer exports
    debug_drop_points: float = 1.0  # `quantize`: an int8 file losing more points gets its worst layers listed
    debug_top_layers: int = 5  # `quantize`: how many layers that list holds
    float_fallback_layers: int = 0  # `quantize`: > 0 also exports int8_mixed with this many layers kept float
    quantizer_overrides: list = field(default_factory=list)  # `quantize`: AI Edge Quantizer per-layer overrides
    auto_max_drop: float = 0.5  # `quantize`: the accuracy points `auto` mixed precision may lose
    qat_scheme: Optional[QatScheme] = None  # `qat`: how `RunContext.model` was wrapped (the stage cache rebuilds it so)
    # `train`: "softmax" when the user's model ended in one; stages train on its logits, and export
    # puts the softmax back so the deployable outputs probabilities as the given model did.
    output_activation: Optional[str] = None


@dataclass(frozen=True)
class RunWarning:
    """A problem that does not stop the run but probably makes its numbers meaningless.

    Attributes:
        code: a stable identifier a script can test ("near_chance", "softmax_output", ...).
        message: what was found, with the measured numbers.
        hint: the likely cause and the setting to change.
    """

    code: str
    message: str
    hint: str

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "hint": self.hint}


ACCURACY_SOURCES = ("target", "host")  # "host": the device cannot run the accuracy pass (adb's benchmark_model)


@dataclass(frozen=True)
class HostCrossCheck:
    """An emulated board's accuracy beside the host's, same file, runtime and images (edgecomp.targets.emulated).

    Attributes:
        host_accuracy: the host's accuracy through the file; None when the host could not run it.
        host_runtime: the host runner's {"name", "version"}.
        accuracy_vs_host_points: board minus host, in percentage points.
        host_error: why the host could not run the file (None when it did).
    """

    host_accuracy: Optional[float]
    host_runtime: Optional[dict]
    accuracy_vs_host_points: Optional[float]
    host_error: Optional[str] = None

    def to_dict(self) -> dict:
        entry = {"host_accuracy": self.host_accuracy, "host_runtime": self.host_runtime,
                 "accuracy_vs_host_points": self.accuracy_vs_host_points}
        if self.host_error is not None:
            entry["host_error"] = self.host_error
        return entry


@dataclass
class Measurement:
    """What the runner measured for one artifact on the target (see `edgecomp.measure.runner`)."""

    accuracy: Optional[float]
    accuracy_samples: Optional[int]
    accuracy_source: str  # one of ACCURACY_SOURCES
    latency_ms: dict  # {"mean", "std", "min", "max", "p50", "p90", "p99"}
    latencies_ms: list
    runs: int
    init_ms: Optional[float]
    # The model's own resident memory after loading / at peak (minus the runner's RSS just before the
    # model existed), and the runner process's peak; MB = 10^6 bytes. `memory` says how (method...).
    model_load_mb: Optional[float]
    model_peak_mb: Optional[float]
    process_peak_mb: Optional[float]
    memory: Optional[dict]
    runtime: dict  # {"name", "version"}
    io: dict
    threads: Optional[int]
    # An emulator's latencies and memory: labelled, left out of Pareto fronts and latency gates (core.emulation).
    emulated: bool = False
    host_check: Optional[HostCrossCheck] = None  # emulated boards: the host's accuracy on the same file
    # benchmark_model's per-op profile (edgecomp.targets.op_profile), or why there is none when one was asked for
    op_profile: Optional[dict] = None
    op_profile_error: Optional[str] = None
    op_profile_binary: Optional[dict] = None  # the benchmark_model that profiled: {"version", "source", "sha256"}
    benchmark_model: Optional[dict] = None  # adb: what benchmark_model printed of its run (parsed log)

    def __post_init__(self) -> None:
        if self.accuracy_source not in ACCURACY_SOURCES:
            raise InternalError(f"accuracy_source {self.accuracy_source!r} is not one of {ACCURACY_SOURCES}")

    @classmethod
    def from_runner(cls, result: dict, accuracy_source: str = "target", emulated: bool = False,
                    host_check: Optional[HostCrossCheck] = None, **device_tool) -> "Measurement":
        """From the runner's JSON result, with what the target says about how it was measured (and
        `device_tool`: op_profile, op_profile_error, op_profile_binary, benchmark_model, where the target ran
        benchmark_model)."""
        return cls(accuracy=result["accuracy"], accuracy_samples=result["accuracy_samples"],
                   accuracy_source=accuracy_source, latency_ms=result["latency_ms"],
                   latencies_ms=result["latencies_ms"], runs=result["runs"], init_ms=result["init_ms"],
                   model_load_mb=result.get("model_load_mb"), model_peak_mb=result.get("model_peak_mb"),
                   process_peak_mb=result.get("process_peak_mb"), memory=result.get("memory"),
                   runtime=result["runtime"], io=result["io"], threads=result["threads"],
                   emulated=emulated, host_check=host_check, **device_tool)

    def to_dict(self) -> dict:
        """Its report.json keys: every measured field (None when unknown), the host check's when there is one."""
        entry = {key: value for key, value in vars(self).items() if key != "host_check"}
        if self.host_check is not None:
            entry.update(self.host_check.to_dict())
        return entry


# Fields written to report.json only when the run produced them (a failed export has no size,
# an ONNX file no sparsity), so a reader can tell "not measured" from a measured value.
OPTIONAL_FIELDS = ("role", "outputs", "precision_read", "export_seconds", "size_bytes", "gzip_bytes", "sparsity",
                   "parity", "quant_debug", "float_fallback_tensors", "quantizer", "predicted_memory")


@dataclass
class ArtifactRecord:
    """One exported (or brought) model file: how it was made, checked and measured.

    `status` is one of `edgecomp.reporting.schema.ARTIFACT_STATUSES`; `error` says why when it is not "ok".
    """

    name: str
    format: str  # "tflite" | "onnx"
    precision: str  # "float32", "int8", ...; for `edgecomp bench` read from the file (edgecomp.measure.precision)
    path: str  # relative to the run folder (absolute for files `edgecomp bench` was given)
    params: Optional[int] = None
    status: str = "ok"
    error: Optional[str] = None
    role: Optional[str] = None  # "original": the trained model's float32 file, the baseline of every ratio
    outputs: Optional[str] = None  # "probabilities" when a softmax was put back (None: logits)
    # `edgecomp bench`: {"from_file", "from_card", "source"} or {"error"}: how `precision` was read
    precision_read: Optional[dict] = None
    export_seconds: Optional[float] = None
    size_bytes: Optional[int] = None
    gzip_bytes: Optional[int] = None
    sparsity: Optional[dict] = None  # zeros read back from a .tflite (edgecomp.exporters.sparsity)
    parity: Optional[dict] = None  # edgecomp.exporters.parity.check_parity
    quant_debug: Optional[dict] = None  # int8 files: accuracy drop and worst layers, or {"error"}
    float_fallback_tensors: Optional[list] = None  # int8_mixed: the tensors kept float
    # AI Edge Quantizer files: the recipe, overrides, each layer's precision read back from the file, what
    # stayed float, and for `auto` every step measured (edgecomp.exporters.edge_quantizer)
    quantizer: Optional[dict] = None
    # Read from the file before it runs (edgecomp.measure.footprint): weights_mb, activations_mb, total_mb, method
    predicted_memory: Optional[dict] = None
    measurement: Optional[Measurement] = None
    # What a target notes and no code reads (temperatures, a cleanup error): report.json's `target_notes`.
    target_notes: dict = field(default_factory=dict)
    model_card: Optional[str] = None  # relative path of the card written beside the file
    tflite_runtime_2_14: Optional[dict] = None  # does the file load in tflite-runtime 2.14

    @property
    def accuracy(self) -> Optional[float]:
        return self.measurement.accuracy if self.measurement else None

    def fail(self, reason: str, status: str = "failed") -> None:
        """Marks the artifact failed (or `parity_failed`) with its reason."""
        self.status, self.error = status, reason

    def to_dict(self) -> dict:
        """The report.json entry (without the derived acc/MB, acc/ms and vs_float32, which the
        report adds because they compare artifacts with each other).

        Target notes sit under their own key, so a note named like a measured field cannot replace it."""
        entry: dict[str, Any] = {"name": self.name, "format": self.format, "precision": self.precision,
                                 "path": self.path, "status": self.status, "error": self.error,
                                 "params": self.params}
        entry.update({key: getattr(self, key) for key in OPTIONAL_FIELDS if getattr(self, key) is not None})
        if self.measurement is not None:
            entry.update(self.measurement.to_dict())
        for key in ("model_card", "tflite_runtime_2_14"):
            if getattr(self, key) is not None:
                entry[key] = getattr(self, key)
        if self.target_notes:
            entry["target_notes"] = dict(self.target_notes)
        return entry
