"""`edgecomp.build`: the whole pipeline from Python. `edgecomp build` parses its flags and calls this."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

from edgecomp.api.device import resolve_devices
from edgecomp.api.inputs import DataInput, ModelInput, dataset_reference, model_reference
from edgecomp.api.plans import PlanInput, plan_data, resolve_plan
from edgecomp.api.results import BuildResult, MultiTargetResult
from edgecomp.core.verbosity import set_verbose
from edgecomp.reporting.gates import Gates


def build(model: ModelInput = None, data: DataInput = None, *, target: Union[str, Sequence[str]] = "host",
          plan: PlanInput = None,
          stages: Optional[Sequence[Union[str, dict]]] = None, preset: Optional[str] = None,
          out: Union[str, Path, None] = None, normalization: Any = None, class_names: Optional[Sequence[str]] = None,
          epochs: Optional[int] = None, train_limit: Optional[int] = None, seed: Optional[int] = None,
          time_budget: Union[str, float, None] = None,
          max_size_mb: Optional[float] = None, max_latency_ms: Optional[float] = None,
          min_accuracy: Optional[float] = None, gate_scope: str = "every", connection: Optional[dict] = None,
          use_cache: bool = True, verbose: bool = False,
          command: Optional[str] = None) -> Union[BuildResult, MultiTargetResult]:
    """Train or load a model, compress it, export it, check and benchmark every file on a target.

    The same code as `edgecomp build` (the command parses its flags and calls this function), so the
    run folder, report.json and the artifact to ship (★) are what the command would give.

    Progress goes to stderr: a line per step and a bar with the time left over each training, the exports
    and the benchmarks (rich in a terminal; a widget in Jupyter with the `notebook` extra; in a log or
    captured output no bar, one summary line per loop; `edgecomp.core.progress`).

    Args:
        model: a Keras model object (Keras 3 or tf-keras; saved to `out/inputs/model.keras` and built
            exactly as that file is: loaded with safe mode, bridged from Keras 3, not retrained unless
            `epochs` or a plan says so), a `.keras` / `.h5` / SavedModel path, or a zoo name
            ("cnn-teacher", see `edgecomp models`). None: the plan's model (default cnn-teacher).
        data: (x_train, y_train, x_test, y_test) numpy arrays (uint8 pixels, or floats made from pixels
            by `normalization`; labels as class indices or one-hot), a pair (train, test) of tf.data
            Datasets of (image, label), batched or not, a dataset name ("fashion_mnist"), a `.npz` path or
            an image folder. None: the plan's dataset (default fashion_mnist).
        target: a target profile name ("host", "rpi4", ...; see `edgecomp targets list`) or a YAML path;
            or a list of them: the model is compressed and exported once, then every file is measured on
            each target in turn (each target's report in `out/<target>/`, one combined report in `out/`),
            and a `MultiTargetResult` is returned. Every profile is loaded before any work.
        plan: None (the default plan), a `Plan`, a dict as in a plan YAML, or a YAML path.
        stages: the stages to run, names or mappings, e.g. ["train", {"stage": "quantize", "modes": ["int8"]}].
        preset: "fast" or "quality": fills the stage settings the plan leaves unset.
        out: the run folder [runs/<plan name>].
        normalization: how pixels become the model's input: "unit" (x / 255), "symmetric", "imagenet",
            "raw" or {"scale": s, "offset": o} [the plan's, default unit].
        class_names: names of the classes, for arrays (else "0", "1", ...).
        epochs: training epochs of the train stage. train_limit: use at most this many training images.
        seed: the random seed.
        time_budget: the training stages' time, seconds or a text such as "20m" or "1h30m": each training
            stage gets a share of the time left and runs fewer epochs when the step time measured in its
            first steps says its schedule would overrun (the report records each stage's share). Export
            and measurement come on top.
        max_size_mb: quality gate, largest file in MB (10^6 bytes). max_latency_ms: largest latency p50.
        min_accuracy: quality gate, smallest accuracy in percent (89.5 means 89.5 %).
        gate_scope: "every" artifact must meet the gates, or "any" one ok artifact is enough. With several
            targets the gates apply on every target.
        connection: SSH / adb settings over the target profile's: {"host", "port", "user", "key", "serial"}.
        use_cache: reuse finished stages from the stage cache.
        verbose: let TensorFlow's and the runtimes' logging through.
        command: what the report records as the command [a description of this call].

    Returns:
        A `BuildResult`; `result.raise_for_status()` raises what the command exits with (a failed
        artifact, a missed gate). In Jupyter it shows the artifact table and the Pareto plots.
        With several targets a `MultiTargetResult`: `.per_target` (a `BuildResult` each), `.recommended`
        (the file to ship on every target, judged on its worst case over the targets), `raise_for_status()`.

    Raises:
        UsageError: an unknown name or a bad setting (before anything trains).
        DatasetError, ModelLoadError, TargetError: data, a model or a device that cannot be used.

    Examples:
        >>> import edgecomp
        >>> result = edgecomp.build("cnn-tiny", "fashion_mnist", train_limit=1000, out="runs/doc-build",
        ...                         stages=[{"stage": "train", "epochs": 1}, {"stage": "quantize", "modes": ["int8"]}],
        ...                         plan={"dataset": {"test_limit": 200}, "export": {"formats": ["tflite"]},
        ...                               "bench": {"min_runs": 10, "min_time_s": 0}})  # doctest: +SKIP
        >>> result.recommended.name  # doctest: +SKIP
        'model_int8.tflite'
        >>> fleet = edgecomp.build("cnn-tiny", target=["rpi4", "rpi-zero2w"], max_latency_ms=20)  # doctest: +SKIP
        >>> fleet.recommended.name, fleet.per_target["rpi-zero2w"].recommended.name  # doctest: +SKIP
        ('model_qat_int8.tflite', 'model_qat_int8.tflite')
    """
    set_verbose(verbose)  # before TensorFlow is imported, when it is not yet
    gates = Gates(max_size_mb, max_latency_ms, min_accuracy, gate_scope)  # a bad bound fails before any work
    devices = resolve_devices(target, connection)  # every profile, before any work: a typo is a usage error
    run_dir = Path(out) if out is not None else Path("runs") / str(plan_data(plan)[0].get("name") or "build")
    resolved = resolve_plan(plan, model=model_reference(model, run_dir),
                            dataset=dataset_reference(data, run_dir, normalization, class_names),
                            stages=stages, preset=preset, epochs=epochs, train_limit=train_limit, seed=seed,
                            normalization=normalization, time_budget=time_budget)
    command = command or "edgecomp.build() from Python"
    if len(devices) > 1:
        return run_planned_build_on_targets(resolved, run_dir, devices, gates=gates, use_cache=use_cache,
                                            command=command)
    return run_planned_build(resolved, run_dir, devices[0], gates=gates, use_cache=use_cache, command=command)


def run_planned_build(plan, run_dir: Path, device, *, gates: Gates, use_cache: bool, command: str) -> BuildResult:
    """Runs a resolved plan on the target and returns its result (the report is written to `run_dir`)."""
    from edgecomp.run import pipeline

    if "threads" not in plan.bench.model_fields_set:
        plan.bench.threads = device.profile.threads  # the device profile's default, recorded in the plan
    report = pipeline.run_build(plan, run_dir, device, command=command, gates=gates.record(), use_cache=use_cache)
    return BuildResult.from_report(report)


def run_planned_build_on_targets(plan, run_dir: Path, devices: list, *, gates: Gates, use_cache: bool,
                                 command: str) -> MultiTargetResult:
    """Runs a resolved plan once and measures its files on each target (`edgecomp.run.build_on_targets`)."""
    from edgecomp.reporting.compare import load_report
    from edgecomp.run.build_on_targets import run_build_on_targets

    combined = run_build_on_targets(plan, run_dir, devices, command=command, gates=gates.record(),
                                    use_cache=use_cache)
    reports = {t["name"]: load_report(run_dir / Path(t["report"]).parent) for t in combined["targets"]
               if t["status"] == "ok"}
    return MultiTargetResult.from_reports(combined, reports)
