"""Runs a plan: data -> stages -> export + parity -> benchmark on the target -> report.

Every finished step leaves its files in the run folder (written atomically), so an interrupted
build loses only the step in progress, and the report is written even when an artifact fails.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from edgecomp.compress.context import RunContext
from edgecomp.core.cache_store import ENABLED
from edgecomp.core.errors import BenchError, EdgecompError, ExportError
from edgecomp.core.progress import step
from edgecomp.core.verbosity import THIRD_PARTY_LOG, quiet_third_party
from edgecomp.data.dataset import load_dataset
from edgecomp.data.pipeline import accuracy
from edgecomp.models.load import load_user_model
from edgecomp.models.sanity import artifact_warnings, check_trained_model
from edgecomp.plan.plan import Plan, is_model_file
from edgecomp.report.assemble import assemble_report, write_reports
from edgecomp.run.artifacts import bench_artifacts, export_artifacts
from edgecomp.run.quant_artifacts import describe_deployables
from edgecomp.run.stage_state import StageCache
from edgecomp.run.stages import STAGES
from edgecomp.targets.base import Target
from edgecomp.targets.host import host_facts


def load_plan_dataset(plan: Plan):
    """The plan's dataset, as uint8, sized and coloured for the plan's model.

    Any dataset is resized to `dataset.size` and converted to `dataset.channels` when they are set.
    An image folder without them takes a user model's input (H, W, C); other datasets keep theirs
    (a mismatch with the model is then an error, never silently fixed); zoo models are built for
    the data.
    """
    from pathlib import Path

    size, channels, shape = plan.dataset.size, plan.dataset.channels, None
    if (size is None or channels is None) and Path(plan.dataset.name).expanduser().is_dir():
        shape = user_model_input_shape(plan.model)  # (H, W, C) or None
        if shape is not None:
            size = size or (tuple(shape[:2]) if None not in shape[:2] else None)
            channels = channels or (shape[2] if shape[2] in (1, 3) else None)
    data = load_dataset(plan.dataset.name, val_fraction=plan.dataset.val_fraction,
                        train_limit=plan.dataset.train_limit, test_limit=plan.dataset.test_limit,
                        seed=plan.seed, normalization=plan.dataset.normalization_record(),
                        size=size, channels=channels)
    if shape is not None:
        data.notes.append(f"images resized to the model's input {data.input_shape} (set dataset.size/channels "
                          "to choose)")
    return data

def user_model_input_shape(model_name: str):
    """The (H, W, C) a user's model file takes, or None for a zoo model."""

    if not is_model_file(model_name):
        return None
    shape = load_user_model(model_name).input_shape
    return tuple(shape[1:]) if isinstance(shape, tuple) and len(shape) == 4 else None

def run_stages(ctx: RunContext, use_cache: bool = True) -> list[dict]:
    """Runs the plan's stages on `ctx`, continuing after the last stage found in the stage cache.

    Each finished stage's state is saved to the cache (`edgecomp.run.stage_state`), so the same
    command after a Ctrl-C resumes there; a reused stage's record says `cached: true`.
    """

    cache = StageCache(ctx.plan, ctx.data, enabled=use_cache)
    records = cache.resume(ctx)
    enabled = ENABLED.set(use_cache)
    try:
        _run_remaining_stages(ctx, cache, records)
    finally:
        ENABLED.reset(enabled)
    if ctx.model is None:
        raise EdgecompError("the plan produced no model: start it with a `train` stage (it also loads files).")
    return records

def _run_remaining_stages(ctx: RunContext, cache, records: list[dict]) -> None:
    """Runs the stages after the restored ones (`records`), appending and caching each one's record."""
    from datetime import datetime, timezone

    for index, cfg in enumerate(ctx.plan.stages, start=1):
        if index <= len(records):
            continue
        name = cfg.stage
        step(f"stage {index}/{len(ctx.plan.stages)}: {name}")
        started = time.perf_counter()
        info = STAGES.get(name)(ctx, cfg)
        if name == "train":
            # The model as trained or loaded: the "before" of every comparison in the report.
            if ctx.export_inputs.original_model is None:
                ctx.export_inputs.original_model = ctx.model
            if ctx.model is not None:
                check_trained_model(ctx, user_model=is_model_file(ctx.plan.model))
        records.append({"stage": name, "seconds": round(time.perf_counter() - started, 3), "info": info,
                        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        if ctx.model is not None:
            cache.save(ctx, records)
        else:
            records[-1].update(cached=False, cache_skipped="the stage left no model")

def keras_accuracy(model, data) -> float:

    return accuracy(model, data, "test", batch_size=512)

def run_build(plan: Plan, run_dir: Path, target: Target, command: str = "", gates: Optional[dict] = None,
              use_cache: bool = True) -> dict:
    """Runs the whole plan and returns the report (also written to `run_dir`).

    `gates` (the command's quality gates) are recorded and pick the recommended artifact.
    `use_cache` False neither reads nor writes the stage cache (`edgecomp.run.stage_cache`).
    What TensorFlow, the converters and the runtimes print goes to `run_dir/third_party.log`
    instead of the console, unless verbose (`edgecomp.core.verbosity`).
    """

    with quiet_third_party(run_dir / THIRD_PARTY_LOG):
        return _run_build(plan, run_dir, target, command, gates, use_cache)

def _run_build(plan: Plan, run_dir: Path, target: Target, command: str, gates: Optional[dict],
               use_cache: bool) -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    target_facts = target.check()  # an unreachable device fails before any training
    step(f"loading dataset {plan.dataset.name}")
    data = load_plan_dataset(plan)
    ctx = RunContext(plan=plan, data=data, run_dir=run_dir)
    stage_records = run_stages(ctx, use_cache=use_cache)
    step("measuring the Keras model's test accuracy")
    keras_info = {"accuracy": keras_accuracy(ctx.model, data), "params": int(ctx.model.count_params())}
    artifacts = export_artifacts(ctx)
    floor = bench_artifacts(artifacts, data, run_dir, target, plan.bench)
    describe_deployables(artifacts, run_dir, data)  # model cards + the tflite-runtime 2.14 check
    report = assemble_report(
        plan=plan, data=data, run_dir=run_dir, stages=stage_records, keras_info=keras_info,
        artifacts=artifacts, timing_floor=floor, target=target, target_facts=target_facts, host=host_facts(), command=command,
        wall_seconds=time.perf_counter() - started, gates=gates, warnings=ctx.warnings,
    )
    for warning in artifact_warnings(report, data.labels("test"), data.num_classes):
        ctx.warn(warning)
        report["warnings"].append(warning.to_dict())
    write_reports(report, run_dir)
    return report

def failed_float_parity(report: dict) -> Optional[str]:
    """The message for float exports that disagree with Keras (an error), or None."""
    bad = [a["name"] for a in report["artifacts"]
           if a["status"] == "parity_failed" and a["precision"] == "float32"]
    if bad:
        return (f"float export(s) {', '.join(bad)} disagree with the Keras model (see parity in "
                f"{report['run_dir']}/report.md); this is a converter bug or an unsupported layer.")
    return None

def raise_for_float_parity(report: dict) -> None:
    message = failed_float_parity(report)
    if message:
        raise ExportError(message)

def raise_for_failed_artifacts(report: dict) -> None:
    """Exit code 1 for a pipeline when any artifact failed to export or to run (its row says why).

    Raises:
        BenchError: one or more artifacts have status `failed`; the report is already written.
    """
    failed = [a for a in report["artifacts"] if a.get("status") == "failed"]
    if failed:
        first = failed[0]
        raise BenchError(f"{len(failed)} of {len(report['artifacts'])} artifact(s) failed ({first['name']}: "
                         f"{first.get('error')}{'; ...' if len(failed) > 1 else ''}); every reason is in "
                         f"{report['run_dir']}/report.md.")
