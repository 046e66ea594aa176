"""One trial of `edgecomp search`: the sampled point as a Plan, built by `run_build`, judged on its artifact.

Runs inside a Ray Tune trial process. Every training epoch after the teacher reports the student's
validation accuracy (the ASHA scheduler's metric; `epochs_done` is its time axis), and the last report
carries the measured artifact's numbers, whether it meets the budget, and the searcher's score. With
several targets the trial's file is exported once and measured on each; it is judged on its worst
case over them (`judge_on_targets`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgecomp.budget_search.budget import Budget, candidate_metrics, score, trial_misses
from edgecomp.budget_search.device import DeviceLockedTarget
from edgecomp.core import progress
from edgecomp.core.errors import EdgecompError
from edgecomp.core.verbosity import set_verbose
from edgecomp.plan.plan import parse_plan
from edgecomp.plan.search_space import SearchSpace, candidate_precision, trial_stages
from edgecomp.run.build_on_targets import run_build_on_targets
from edgecomp.run.pipeline import run_build
from edgecomp.targets.profiles import resolve_target

# Epochs of these progress labels train the teacher, whose accuracy says nothing about the student.
TEACHER_LABELS = ("train", "fine-tune")
FAILED_SCORE = -10.0  # below any trial that produced an artifact, so the searcher steers away


def trial_folder(experiment: Path, trial_id: str) -> Path:
    return experiment / "trials" / trial_id

def _epoch_reporter(report, state: dict):
    """A progress listener that reports each student epoch's validation accuracy to Ray Tune."""

    def listener(label: str, epoch: int, logs: dict) -> None:
        if label in TEACHER_LABELS or "val_accuracy" not in logs:
            return
        state["epochs_done"] += 1
        state["val_accuracy"] = float(logs["val_accuracy"])
        # score: what Optuna keeps if ASHA stops the trial here; below every trial that meets the budget
        # (its artifact was never measured), level with a finished one that misses it by nothing.
        report({"val_accuracy": state["val_accuracy"], "score": state["val_accuracy"] - 1.0,
                "epochs_done": state["epochs_done"], "stage": label, "finished": False})

    return listener

def judge(report: dict, point: dict, budget) -> dict:
    """The final metrics of a finished build: its candidate artifact against the budget."""

    precision = candidate_precision(point)
    candidate = next((a for a in report["artifacts"] if a["format"] == "tflite" and a["precision"] == precision
                      and a.get("role") not in ("original", "floor")), None)
    if candidate is None or candidate.get("status") == "failed":
        reason = "no artifact" if candidate is None else candidate.get("error")
        return {"status": "failed", "error": f"{precision} artifact failed: {reason}", "score": FAILED_SCORE}
    metrics = candidate_metrics(candidate)
    missed = trial_misses(metrics, budget, candidate.get("status"))
    return {"status": "done", "artifact": candidate["path"], "artifact_status": candidate["status"], **metrics,
            "meets_budget": not missed, "missed": missed, "score": score(metrics, missed)}

def judge_on_targets(combined: dict, run_dir: Path, point: dict, budget) -> dict:
    """The final metrics of a trial measured on several targets: its candidate file's worst case over them.

    The accuracy is the lowest a target measured, the p50 latency and the memory the largest (the slowest,
    most constrained device decides); the size is the file's own. A target that failed, or on which the
    file failed, fails the trial: the file cannot be shown to fit every device.
    """
    down = [t for t in combined["targets"] if t["status"] != "ok"]
    if down:
        return {"status": "failed", "error": f"target {down[0]['name']} failed: {down[0]['error']}",
                "score": FAILED_SCORE}
    judged = {}
    for column in combined["targets"]:
        folder = run_dir / Path(column["report"]).parent
        report = json.loads((folder / "report.json").read_text())
        verdict = judge(report, point, budget)
        if verdict["status"] == "failed":
            return {**verdict, "error": f"on {column['name']}: {verdict['error']}"}
        verdict["artifact"] = os.path.relpath(folder / verdict["artifact"], run_dir)  # ../artifacts/x -> artifacts/x
        judged[column["name"]] = verdict
    latency = {name: v["latency_p50_ms"] for name, v in judged.items()}
    slowest = max(latency, key=lambda name: -1.0 if latency[name] is None else latency[name])
    first = next(iter(judged.values()))
    metrics = {**candidate_metrics({}),
               "accuracy": _worst(min, [v["accuracy"] for v in judged.values()]), "size_kb": first["size_kb"],
               "gzip_kb": first["gzip_kb"], "latency_p50_ms": _worst(max, list(latency.values())),
               "memory_mb": _worst(max, [v["memory_mb"] for v in judged.values()])}
    missed = trial_misses(metrics, budget, first["artifact_status"])
    return {"status": "done", "artifact": first["artifact"], "artifact_status": first["artifact_status"], **metrics,
            "meets_budget": not missed, "missed": missed, "score": score(metrics, missed), "slowest_target": slowest,
            "p50_by_target": latency, "accuracy_by_target": {name: v["accuracy"] for name, v in judged.items()}}


def _worst(choose, values: list):
    """The worst of the targets' numbers; None (not measured) when any target lacks it."""
    return None if None in values else choose(values)


def run_trial(config: dict, context: dict) -> None:
    """The Ray Tune trainable: build the trial's plan into its own folder and report as it goes.

    Args:
        config: the sampled point (see `edgecomp.plan.search_space.sample_point`).
        context: plan (a dumped Plan without stages), space, budget, target spec, experiment folder,
            verbose; the same for every trial.
    """

    set_verbose(context["verbose"])  # before TensorFlow is imported in this process
    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    space = SearchSpace.model_validate(context["space"])
    run_dir = trial_folder(Path(context["experiment"]), trial_id)
    state = {"epochs_done": 0, "val_accuracy": None}
    listener = _epoch_reporter(tune.report, state)
    progress.EPOCH_LISTENERS.append(listener)
    try:
        # A trial is judged on its own candidate file; the floor (the same file in every trial, see
        # export.floor) would only cost each trial an export and a benchmark.
        plan = parse_plan({**context["plan"], "name": f"trial-{trial_id}",
                           "export": {**context["plan"]["export"], "floor": False},
                           "stages": trial_stages(config, space, context["train_stage"])},
                          source=f"plan of trial {trial_id}")
        targets = [DeviceLockedTarget(resolve_target(spec["name"], **spec["overrides"]), spec)
                   for spec in context["targets"]]
        if len(targets) == 1:
            final = judge(run_build(plan, run_dir, targets[0], command=context["command"]), config,
                          Budget(**context["budget"]))
        else:  # exported once, measured on each device in turn (each benchmark holds its own device)
            combined = run_build_on_targets(plan, run_dir, targets, command=context["command"])
            final = judge_on_targets(combined, run_dir, config, Budget(**context["budget"]))
    except EdgecompError as err:  # a failed variant is a row with its reason; the search goes on
        final = {"status": "failed", "error": str(err), "score": FAILED_SCORE}
    finally:
        progress.EPOCH_LISTENERS.remove(listener)
    tune.report({"val_accuracy": state["val_accuracy"] or 0.0, "epochs_done": state["epochs_done"],
                 "finished": True, "run_dir": str(run_dir), **final})
