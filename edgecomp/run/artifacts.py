"""Export every artifact a plan asks for, check each against Keras, and benchmark them all.

An artifact that fails to export or to run becomes a `failed` row with its reason; the loop goes
on with the others (a failed variant never hides the rest).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edgecomp.compress.context import RunContext
from edgecomp.core.errors import EdgecompError
from edgecomp.core.files import gzip_size, write_bytes_atomically
from edgecomp.core.progress import StepsProgress, step
from edgecomp.core.records import ArtifactRecord
from edgecomp.exporters.edge_quantizer import quantizer_installed, tensor_snr_db
from edgecomp.exporters.metadata import ArtifactMetadata, embed_metadata
from edgecomp.exporters.node_data import write_node_data
from edgecomp.exporters.parity import judge_outputs, run_artifact
from edgecomp.exporters.rejections import runtime_errors
from edgecomp.exporters.sparsity import tflite_sparsity
from edgecomp.exporters.tflite import keras_to_tflite
from edgecomp.measure.footprint import predict_memory
from edgecomp.measure.timing_floor import TIMING_FLOOR_PATH
from edgecomp.models.output_head import SOFTMAX, softmax_head, with_softmax
from edgecomp.plan.plan import BenchConfig
from edgecomp.plan.precisions import BASELINE_PRECISION, FLOOR_PRECISION, PRECISIONS
from edgecomp.reporting.explore import node_data_dir
from edgecomp.run.quant_artifacts import calibration_images, debug_int8, export_file, export_source_model
from edgecomp.targets.base import Target


def planned_exports(ctx: RunContext) -> list[tuple[str, str]]:
    """(format, precision) pairs in report order: float32 baselines first; an `.onnx` for each
    recipe that has one."""
    precisions = [BASELINE_PRECISION] + [name for name in ctx.ptq_modes if name != BASELINE_PRECISION]
    exports = []
    if "tflite" in ctx.plan.export.formats:
        exports += [("tflite", name) for name in precisions]
    if "onnx" in ctx.plan.export.formats:
        exports += [("onnx", name) for name in precisions if PRECISIONS.get(name).onnx]
    return exports

def _file_sparsity(path: Path) -> dict:
    """Zeros read back from the .tflite itself; a file the reader cannot open is noted, not fatal."""

    try:
        return tflite_sparsity(path)
    except EdgecompError as err:
        return {"overall": None, "error": str(err)}

def original_model_to_compare(ctx: RunContext):
    """The model as trained or loaded, when later stages replaced it (a distilled student, a
    structurally pruned network); None when the exported model is still that one."""
    original = ctx.export_inputs.original_model
    return None if original is None or original is export_source_model(ctx, BASELINE_PRECISION) else original

def restore_output_contract(ctx: RunContext) -> None:
    """Puts back the softmax the train stage took off a user's model (`edgecomp.models.output_head`)
    on every model export reads, so each file outputs probabilities as the given model did. The
    same model in two slots stays one object (export compares models by identity)."""
    if ctx.export_inputs.output_activation != SOFTMAX:
        return
    wrapped: dict[int, object] = {}

    def restored(model):
        if model is None or softmax_head(model) is not None:  # put back already (a second export)
            return model
        if id(model) not in wrapped:
            wrapped[id(model)] = with_softmax(model)
        return wrapped[id(model)]

    ctx.model = restored(ctx.model)
    for slot in ("original_model", "float_model"):
        setattr(ctx.export_inputs, slot, restored(getattr(ctx.export_inputs, slot)))
    step("exported models end in a softmax again: they output probabilities, as the given model did")

@dataclass(frozen=True)
class PlannedFile:
    """One file `export_artifacts` writes: where, from which Keras model, and how."""

    path: Path
    fmt: str
    precision: str
    source_model: object
    write: Callable[[ArtifactRecord, Path], object]  # write(record, path): the converter call
    role: Optional[str] = None  # "original" | "floor" | None (a file of the plan)

def planned_files(ctx: RunContext, out_dir: Path) -> list[PlannedFile]:
    """The files in report order: the original model's float32 file (when stages replaced it), the
    floor (`export.floor`), then the plan's files (`planned_exports`)."""
    files = []
    original = original_model_to_compare(ctx)
    if original is not None:
        files.append(PlannedFile(out_dir / f"model_original_{BASELINE_PRECISION}.tflite", "tflite", BASELINE_PRECISION,
                                 original, lambda _record, path: keras_to_tflite(original, path, BASELINE_PRECISION),
                                 role="original"))
    if ctx.plan.export.floor:
        files.append(_floor_file(ctx, out_dir))
    for fmt, precision in planned_exports(ctx):
        files.append(PlannedFile(out_dir / f"model_{precision}.{fmt}", fmt, precision,
                                 export_source_model(ctx, precision),
                                 lambda record, path: export_file(ctx, record, path)))
    return files

def export_artifacts(ctx: RunContext) -> list[ArtifactRecord]:
    """Exports, then checks parity of each file against the Keras model it came from on test images.

    When stages replaced the trained model, its float32 TFLite comes first (`role: original`):
    the "before" that every ratio in the report is measured against. A bar with the time left runs
    over the files (`edgecomp.core.progress.StepsProgress`).
    """

    restore_output_contract(ctx)
    parity_images = ctx.data.images("test", ctx.plan.export.parity_samples)  # normalised float32
    reference_cache: dict = {}  # id(source model) -> its Keras outputs (N, K) on parity_images
    files = planned_files(ctx, ctx.run_dir / "artifacts")
    records = []
    with StepsProgress("export", len(files), "file", "exported {done} files in {elapsed}") as steps:
        for planned in files:
            steps.begin(f"exporting {planned.path.name}", status=planned.path.name)
            records.append(_export_and_check(ctx, planned, parity_images, reference_cache))
            steps.advance()
    write_layer_overlays(ctx.run_dir, records, parity_images[:16])
    return records


def write_layer_overlays(run_dir: Path, records: list[ArtifactRecord], images: np.ndarray) -> None:
    """Model Explorer node-data files for each `.tflite` (`edgecomp explore`): what each layer holds, read
    from the file, and for a post-training file its SNR per layer against the float32 file (measured with
    the AI Edge Quantizer's validation, when the `quantize` extra is installed)."""
    float_file = next((run_dir / r.path for r in records if r.size_bytes is not None and r.precision == BASELINE_PRECISION
                       and r.role is None and r.format == "tflite"), None)
    for record in records:
        if record.format != "tflite" or record.size_bytes is None:  # no file was written
            continue
        path, measured = run_dir / record.path, {}
        recipe = PRECISIONS.get(record.precision) if record.precision in PRECISIONS else None
        ran = record.parity is not None  # a file its runtime refused has no tensors to compare
        if float_file is not None and path != float_file and recipe is not None and recipe.post_training \
                and record.role is None and ran and quantizer_installed():
            try:
                measured["quantization_snr_db"] = tensor_snr_db(float_file, path, images)
            except ValueError as err:  # the quantizer's validation refuses tensors it cannot pair (sparse weights)
                step(f"{record.name}: no per-layer SNR overlay (the quantizer's validation: {err})")
        write_node_data(path, node_data_dir(run_dir, record.name), measured)

def _floor_file(ctx: RunContext, out_dir: Path) -> PlannedFile:
    """The floor (`role: floor`): the PTQ int8 of the model as trained or loaded, unchanged by the
    chain. The chain's files are recommended only when they beat it by the ★ rule."""
    original = ctx.export_inputs.original_model
    if original is None:  # no train stage ran: nothing unchanged to quantize (run_stages refuses this)
        raise EdgecompError("export.floor needs the train stage's model: start the plan with a `train` stage.")
    return PlannedFile(
        out_dir / f"model_floor_{FLOOR_PRECISION}.tflite", "tflite", FLOOR_PRECISION, original,
        lambda _record, path: keras_to_tflite(original, path, FLOOR_PRECISION,
                                              calibration_images=calibration_images(ctx, FLOOR_PRECISION)),
        role="floor")

def _export_and_check(ctx: RunContext, planned: PlannedFile, parity_images: np.ndarray,
                      reference_cache: dict) -> ArtifactRecord:
    """One artifact: export it, measure its size and zeros, and compare it with its source model."""
    fmt, precision, path, source_model = planned.fmt, planned.precision, planned.path, planned.source_model
    # A QAT model also holds quantizer ranges; the network's parameters are its float twin's.
    recipe = PRECISIONS.get(precision)
    params_model = source_model if recipe.post_training else export_source_model(ctx, BASELINE_PRECISION)
    record = ArtifactRecord(name=path.name, format=fmt, precision=precision, role=planned.role,
                            path=str(path.relative_to(ctx.run_dir)), params=int(params_model.count_params()),
                            outputs="probabilities" if ctx.export_inputs.output_activation == SOFTMAX else None)
    started = time.perf_counter()
    try:
        planned.write(record, path)
        # Labels and normalisation inside the file itself; the size below includes them.
        embed_metadata(path, ArtifactMetadata.create(f"{source_model.name} ({ctx.data.name})", ctx.data.class_names,
                                                     ctx.data.normalization, precision))
    except EdgecompError as err:
        path.unlink(missing_ok=True)  # a file an earlier run left here must not pass for this one's
        record.fail(str(err))
        return record
    record.export_seconds = round(time.perf_counter() - started, 3)
    record.size_bytes = path.stat().st_size
    record.gzip_bytes = gzip_size(path)
    if fmt == "tflite":
        record.sparsity = _file_sparsity(path)
    if id(source_model) not in reference_cache:
        reference_cache[id(source_model)] = source_model.predict(parity_images, batch_size=256, verbose=0)
    try:
        outputs = run_artifact(path, parity_images)
    except runtime_errors(path) as err:  # a file its own runtime refuses: a failed row, the file kept to inspect
        runtime = "onnxruntime" if fmt == "onnx" else "LiteRT"
        record.fail(f"{runtime} cannot run {path.name}: {str(err).strip()}")
        return record
    parity = record.parity = judge_outputs(precision, reference_cache[id(source_model)], outputs,
                                           ctx.data.labels("test", len(parity_images)))
    debug_int8(ctx, record, path, parity_images, source_model)
    if not parity["passed"]:
        kind = "error" if recipe.parity.failure_is_error else "flagged"
        record.fail(f"parity {kind}: {parity['reason']}", status="parity_failed")
    return record

def write_sample(data, path: Path, limit: Optional[int]) -> Path:
    """The test images and labels the runner measures accuracy on (allow_pickle-free npz).

    Images travel as the dataset's own uint8 pixels with its normalisation beside them (`scale`,
    `offset`, scalars or per channel): a quarter of float32's bytes to copy to a device and to hold
    in the runner, which applies the same formula.
    """
    import io

    scale, offset = data.normalization.arrays()
    buffer = io.BytesIO()
    np.savez(buffer, x=data.pixels("test", limit), y=data.labels("test", limit).astype(np.int64),
             scale=np.asarray(scale, np.float64), offset=np.asarray(offset, np.float64))
    return write_bytes_atomically(path, buffer.getvalue())

def bench_artifacts(artifacts: list[ArtifactRecord], data, run_dir: Path, target: Target,
                    settings: BenchConfig) -> Optional[dict]:
    """Benchmarks every exported artifact on the target; returns the timing floor's latency."""
    bench_dir = run_dir / "bench"
    sample = write_sample(data, bench_dir / "sample.npz", settings.accuracy_samples)
    runnable = [a for a in artifacts if a.status != "failed"]
    for record in runnable:
        record.predicted_memory = predicted_memory(run_dir / record.path)
    step(f"benchmarking {len(runnable)} artifact(s) on {target.name}")
    outcomes = target.bench([run_dir / a.path for a in runnable], sample, settings)
    for record, outcome in zip(runnable, outcomes):
        record.target_notes.update(outcome.notes)  # a failed row keeps them too (a cleanup error, temperatures)
        if not outcome.ok:
            record.fail(f"benchmark: {outcome.error}")
            continue
        record.measurement = outcome.measurement()
    floor_sample = bench_dir / "timing_floor_sample.npz"
    write_bytes_atomically(floor_sample, _floor_sample_bytes())
    if not TIMING_FLOOR_PATH.is_file():  # the report says "no floor" rather than losing every measurement
        step(f"no timing floor: {TIMING_FLOOR_PATH} is missing from the installation; reinstall edgecomp")
        return None
    floor = target.bench([TIMING_FLOOR_PATH], floor_sample, settings)[0]
    return floor.result["latency_ms"] if floor.ok else None

def predicted_memory(path: Path) -> dict:
    """The footprint read from the file (see edgecomp.measure.footprint); an unreadable file is noted."""

    try:
        return predict_memory(path)
    except EdgecompError as err:
        return {"weights_mb": None, "activations_mb": None, "total_mb": None, "error": str(err)}

def _floor_sample_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((1, 1), np.float32), y=np.zeros((1,), np.int64))
    return buffer.getvalue()
