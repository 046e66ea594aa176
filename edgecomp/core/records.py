"""The typed records that travel between the steps of a run: what stages hand to export
(`ExportInputs`) and what each artifact's export and benchmark found (`ArtifactRecord`).

A leaf module (standard library only), so the stages, the exporters, the bench command and the
report can all import it. An `ArtifactRecord` becomes a report.json entry in one place,
`ArtifactRecord.to_dict`, called when the report is assembled (see `edgecomp.report.schema`).
A `RunWarning` is what a sanity check (`edgecomp.models.sanity`) found: report.json's `warnings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


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


@dataclass
class Measurement:
    """What the runner measured for one artifact on the target (see `edgecomp.bench.runner`)."""

    accuracy: Optional[float]
    accuracy_samples: Optional[int]
    accuracy_source: str  # "target", or "host" when the device cannot run the accuracy pass
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

    @classmethod
    def from_runner(cls, result: dict, accuracy_source: str = "target") -> "Measurement":
        """From the runner's JSON result."""
        return cls(accuracy=result["accuracy"], accuracy_samples=result["accuracy_samples"],
                   accuracy_source=accuracy_source, latency_ms=result["latency_ms"],
                   latencies_ms=result["latencies_ms"], runs=result["runs"], init_ms=result["init_ms"],
                   model_load_mb=result.get("model_load_mb"), model_peak_mb=result.get("model_peak_mb"),
                   process_peak_mb=result.get("process_peak_mb"), memory=result.get("memory"),
                   runtime=result["runtime"], io=result["io"], threads=result["threads"])


# Fields written to report.json only when the run produced them (a failed export has no size,
# an ONNX file no sparsity), so a reader can tell "not measured" from a measured value.
OPTIONAL_FIELDS = ("role", "outputs", "precision_read", "export_seconds", "size_bytes", "gzip_bytes", "sparsity",
                   "parity", "quant_debug", "float_fallback_tensors", "predicted_memory")


@dataclass
class ArtifactRecord:
    """One exported (or brought) model file: how it was made, checked and measured.

    `status` is one of `edgecomp.report.schema.ARTIFACT_STATUSES`; `error` says why when it is not "ok".
    """

    name: str
    format: str  # "tflite" | "onnx"
    precision: str  # "float32", "int8", ...; for `edgecomp bench` read from the file (edgecomp.bench.precision)
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
    sparsity: Optional[dict] = None  # zeros read back from a .tflite (edgecomp.export.sparsity)
    parity: Optional[dict] = None  # edgecomp.export.parity.check_parity
    quant_debug: Optional[dict] = None  # int8 files: accuracy drop and worst layers, or {"error"}
    float_fallback_tensors: Optional[list] = None  # int8_mixed: the tensors kept float
    # Read from the file before it runs (edgecomp.bench.footprint): weights_mb, activations_mb, total_mb, method
    predicted_memory: Optional[dict] = None
    measurement: Optional[Measurement] = None
    target_notes: dict = field(default_factory=dict)  # target-specific facts (temperatures, cleanup errors)
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
        report adds because they compare artifacts with each other)."""
        entry: dict[str, Any] = {"name": self.name, "format": self.format, "precision": self.precision,
                                 "path": self.path, "status": self.status, "error": self.error,
                                 "params": self.params}
        entry.update({key: getattr(self, key) for key in OPTIONAL_FIELDS if getattr(self, key) is not None})
        if self.measurement is not None:
            entry.update(vars(self.measurement))
        entry.update(self.target_notes)
        for key in ("model_card", "tflite_runtime_2_14"):
            if getattr(self, key) is not None:
                entry[key] = getattr(self, key)
        return entry
