"""Runs a plan: data -> stages -> export + parity -> benchmark on the target -> report.

Every finished step leaves its files in the run folder (written atomically), so an interrupted
build loses only the step in progress, and the report is written even when an artifact fails.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from edgecomp.adapters.base import Target
from edgecomp.compress import STAGES
from edgecomp.config import Plan
from edgecomp.data import load_dataset
from edgecomp.errors import BenchError, EdgecompError, ExportError
from edgecomp.progress import step
from edgecomp.stages import RunContext


def run_stages(ctx: RunContext) -> list[dict]:
    records = []
    for index, cfg in enumerate(ctx.plan.stages, start=1):
        name = cfg.stage
        step(f"stage {index}/{len(ctx.plan.stages)}: {name}")
        started = time.perf_counter()
        info = STAGES.get(name)(ctx, cfg)
        if name == "train":
            # The model as trained or loaded: the "before" of every comparison in the report.
            if ctx.export_inputs.original_model is None:
                ctx.export_inputs.original_model = ctx.model
        record = {"stage": name, "seconds": round(time.perf_counter() - started, 3), "info": info}
        records.append(record)
    if ctx.model is None:
        raise EdgecompError("the plan produced no model: start it with a `train` stage (it also loads files).")
    return records


def keras_accuracy(model, data) -> float:
    logits = model.predict(data.x_test, batch_size=512, verbose=0)  # (N, K)
    return float(np.mean(logits.argmax(-1) == data.y_test))


def run_build(plan: Plan, run_dir: Path, target: Target, command: str = "", gates: Optional[dict] = None) -> dict:
    """Runs the whole plan and returns the report (also written to `run_dir`).

    `gates` (the command's quality gates) are recorded and pick the recommended artifact.
    """
    from edgecomp.artifacts import bench_artifacts, export_artifacts
    from edgecomp.export.quant_artifacts import describe_deployables
    from edgecomp.report.assemble import assemble_report, write_reports

    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    target_facts = target.check()  # an unreachable device fails before any training
    step(f"loading dataset {plan.dataset.name}")
    data = load_dataset(plan.dataset.name, val_fraction=plan.dataset.val_fraction,
                        train_limit=plan.dataset.train_limit, test_limit=plan.dataset.test_limit,
                        seed=plan.seed)
    ctx = RunContext(plan=plan, data=data, run_dir=run_dir)
    stage_records = run_stages(ctx)
    step("measuring the Keras model's test accuracy")
    keras_info = {"accuracy": keras_accuracy(ctx.model, data), "params": int(ctx.model.count_params())}
    artifacts = export_artifacts(ctx)
    floor = bench_artifacts(artifacts, data, run_dir, target, plan.bench)
    describe_deployables(artifacts, run_dir, data)  # model cards + the tflite-runtime 2.14 check
    report = assemble_report(
        plan=plan, data=data, run_dir=run_dir, stages=stage_records, keras_info=keras_info,
        artifacts=artifacts, timing_floor=floor, target=target, target_facts=target_facts, command=command,
        wall_seconds=time.perf_counter() - started, gates=gates,
    )
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
