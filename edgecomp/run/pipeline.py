"""Runs a plan: data -> stages -> export + parity -> benchmark on the target -> report.

Every finished step leaves its files in the run folder (written atomically), so an interrupted
build loses only the step in progress, and the report is written even when an artifact fails.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from edgecomp.compress.context import RunContext
from edgecomp.compress.time_budget import ScheduleTooLong, epochs_that_fit, stage_time_budget
from edgecomp.core.cache_store import ENABLED
from edgecomp.core.errors import BenchError, EdgecompError, ExportError, ModelNotMeaningfulError
from edgecomp.core.progress import duration_text, step
from edgecomp.core.verbosity import THIRD_PARTY_LOG, quiet_third_party
from edgecomp.data.dataset import load_dataset
from edgecomp.data.pipeline import accuracy
from edgecomp.models.load import load_user_model
from edgecomp.models.sanity import artifact_warnings, check_trained_model, stop_if_not_meaningful
from edgecomp.plan.plan import Plan, is_model_file
from edgecomp.plan.precisions import PRECISIONS
from edgecomp.reporting.assemble import assemble_report, write_reports
from edgecomp.run.artifacts import bench_artifacts, export_artifacts
from edgecomp.run.quant_artifacts import describe_deployables
from edgecomp.run.schedule import sized_to_data
from edgecomp.run.stage_failure import stage_failure_note
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
                        size=size, channels=channels, classes=plan.dataset.classes)
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
    except ModelNotMeaningfulError as stop:
        stop.stage_records = list(records)  # the report written before the exit shows them
        raise
    finally:
        ENABLED.reset(enabled)
    if ctx.model is None:
        raise EdgecompError("the plan produced no model: start it with a `train` stage (it also loads files).")
    return records

def _run_remaining_stages(ctx: RunContext, cache, records: list[dict]) -> None:
    """Runs the stages after the restored ones (`records`), appending and caching each one's record."""
    from datetime import datetime, timezone

    budget_started = time.perf_counter()
    for index, cfg in enumerate(ctx.plan.stages, start=1):
        if index <= len(records):
            continue
        name = cfg.stage
        if name != "train":
            stop_if_not_meaningful(ctx)  # before compression; the train stage is cached already
        step(f"stage {index}/{len(ctx.plan.stages)}: {name}")
        cfg, schedule = sized_to_data(cfg, ctx.data, ctx.plan.preset)
        started = time.perf_counter()
        if ctx.plan.time_budget and schedule and schedule["epochs"] > 0:
            share = stage_share(ctx, index, schedule, ctx.plan.time_budget - (started - budget_started))
            cfg, info = run_stage_in_time(ctx, cfg, index, schedule, share)
        else:
            info = run_stage(ctx, cfg, index)
        if name == "train":
            # The model as trained or loaded: the "before" of every comparison in the report.
            if ctx.export_inputs.original_model is None:
                ctx.export_inputs.original_model = ctx.model
            if ctx.model is not None:
                check_trained_model(ctx, user_model=is_model_file(ctx.plan.model))
        records.append({"stage": name, "seconds": round(time.perf_counter() - started, 3),
                        **({"epochs": schedule["epochs"], "steps": schedule["steps"], "schedule": schedule}
                           if schedule else {}), "info": info,
                        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        if ctx.model is not None:
            cache.save(ctx, records)
        else:
            records[-1].update(cached=False, cache_skipped="the stage left no model")

def stage_share(ctx: RunContext, index: int, schedule: dict, seconds_left: float) -> float:
    """This stage's part of the time left: in proportion to its planned optimizer steps among the
    training stages still to run (this one included)."""
    later = [sized_to_data(cfg, ctx.data, ctx.plan.preset, quiet=True)[1] for cfg in ctx.plan.stages[index:]]
    steps = schedule["steps"] + sum(s["steps"] for s in later if s)
    return max(0.0, seconds_left) * schedule["steps"] / max(1, steps)

def run_stage_in_time(ctx: RunContext, cfg, index: int, schedule: dict, share: float) -> tuple[object, dict]:
    """run_stage within `share` seconds: when the step time measured in its first steps says the stage
    would overrun, it starts again, its model's weights put back, with the fraction of its epochs
    that fits in what is left of the share (see edgecomp.compress.time_budget). `schedule` gains a
    `time_budget` record."""
    started, planned = time.perf_counter(), cfg.epochs
    warnings = len(ctx.warnings)
    # byot and dlb train ctx.model itself: a restart must begin from the weights the stage was given.
    weights = ctx.model.get_weights() if ctx.model is not None else None
    record = {"share_seconds": round(share, 1), "planned_epochs": planned, "restarts": []}
    unchecked = False  # after three cuts, or when one epoch is all that is left to cut to: run it as it is
    for attempt in range(4):
        try:
            left = float("inf") if unchecked or attempt == 3 else share - (time.perf_counter() - started)
            with stage_time_budget(left) as budget:
                info = run_stage(ctx, cfg, index)
            break
        except ScheduleTooLong as cut:
            del ctx.warnings[warnings:]  # the stage warns again when it starts again
            if weights is not None:
                ctx.model.set_weights(weights)
            epochs = epochs_that_fit(cfg.epochs, cut.fraction)
            if epochs >= cfg.epochs:
                unchecked = True
                step(f"{cfg.stage}: {cfg.epochs} epoch(s) overrun its {duration_text(share)} of the time budget and "
                     "cannot be cut further; starting it again, unchecked")
                continue
            step(f"{cfg.stage}: {epochs} epoch{'s' if epochs != 1 else ''} instead of {cfg.epochs} to fit its "
                 f"{duration_text(share)} of the time budget ({1000 * cut.step_seconds:.0f} ms per step measured); "
                 "starting it again")
            record["restarts"].append({"epochs": cfg.epochs, "measured_step_seconds": cut.step_seconds,
                                       "fraction_that_fits": round(cut.fraction, 4), "epochs_that_fit": epochs})
            cfg = cfg.model_copy(update={"epochs": epochs})
    measured = budget.measured_step_seconds or (record["restarts"] or [{}])[-1].get("measured_step_seconds")
    record.update(epochs=cfg.epochs, measured_step_seconds=measured)
    if cfg.epochs != planned:
        schedule.update(epochs=cfg.epochs, steps=cfg.epochs * schedule["steps_per_epoch"])
    schedule["time_budget"] = record
    return cfg, info

def run_stage(ctx: RunContext, cfg, index: int) -> dict:
    """One stage; an unexpected exception keeps its traceback and gets a note naming the stage,
    the model and the layer (`edgecomp.run.stage_failure`). An EdgecompError says what to do already."""
    try:
        return STAGES.get(cfg.stage)(ctx, cfg)
    except (EdgecompError, ScheduleTooLong):  # said what to do already; the time budget's restart
        raise
    except Exception as err:
        err.add_note(stage_failure_note(err, stage=cfg.stage, index=index, total=len(ctx.plan.stages),
                                        model_source=ctx.plan.model,
                                        models=[ctx.model, ctx.export_inputs.original_model]))
        raise

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
    facts = {"target": target, "target_facts": target_facts, "host": host_facts(), "command": command,
             "gates": gates, "started": started}
    ctx, stage_records, keras, artifacts = compress_and_export(plan, run_dir, facts, use_cache)
    floor = bench_artifacts(artifacts, ctx.data, run_dir, target, plan.bench)
    describe_deployables(artifacts, run_dir, ctx.data)  # model cards + the tflite-runtime 2.14 check
    report = _report(ctx, stage_records, keras, artifacts, floor, facts)
    for warning in artifact_warnings(report, ctx.data.labels("test"), ctx.data.num_classes):
        ctx.warn(warning)
        report["warnings"].append(warning.to_dict())
    write_reports(report, run_dir)
    return report

def compress_and_export(plan: Plan, run_dir: Path, facts: dict, use_cache: bool) -> tuple:
    """Loads the data, runs the stages, measures the Keras model and exports every artifact (checked
    against Keras), once, whatever the number of targets that measure the files afterwards.

    Args:
        facts: what the report records of the run: target (a Target), target_facts, host, command,
            gates, started (perf_counter); used for the report written when the sanity checks stop the run.

    Returns:
        (ctx, stage records, the Keras model's info, the artifact records).

    Raises:
        ModelNotMeaningfulError: the trained model is meaningless; its report is written to `run_dir`.
    """
    step(f"loading dataset {plan.dataset.name}")
    data = load_plan_dataset(plan)
    ctx = RunContext(plan=plan, data=data, run_dir=run_dir)
    try:
        stage_records = run_stages(ctx, use_cache=use_cache)
    except ModelNotMeaningfulError as stop:
        report = _report(ctx, list(stop.stage_records), keras_info(ctx), [], None, facts)
        report["stopped"] = {"before_stage": _next_stage(plan, len(stop.stage_records)), "reason": str(stop)}
        write_reports(report, run_dir)
        raise
    keras = keras_info(ctx)
    return ctx, stage_records, keras, export_artifacts(ctx)

def keras_info(ctx: RunContext) -> dict:
    step("measuring the Keras model's test accuracy")
    return {"accuracy": keras_accuracy(ctx.model, ctx.data), "params": int(ctx.model.count_params())}

def _report(ctx: RunContext, stage_records: list[dict], keras: dict, artifacts: list, timing_floor,
            facts: dict) -> dict:
    """The report of a build: its stages, the Keras model's test accuracy and the artifacts."""
    return assemble_report(
        plan=ctx.plan, data=ctx.data, run_dir=ctx.run_dir, stages=stage_records, keras_info=keras,
        artifacts=artifacts, timing_floor=timing_floor, target=facts["target"], target_facts=facts["target_facts"],
        host=facts["host"], command=facts["command"], wall_seconds=time.perf_counter() - facts["started"],
        gates=facts["gates"], warnings=ctx.warnings)

def _next_stage(plan: Plan, finished: int) -> Optional[str]:
    return plan.stages[finished].stage if finished < len(plan.stages) else None

def failed_float_parity(report: dict) -> Optional[str]:
    """The message for exports whose recipe makes a parity failure an error (float exports), or None."""
    bad = [a["name"] for a in report["artifacts"] if a["status"] == "parity_failed"
           and a["precision"] in PRECISIONS and PRECISIONS.get(a["precision"]).parity.failure_is_error]
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
