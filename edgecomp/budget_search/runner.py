"""Runs a search on Ray Tune: embedded local Ray or an existing cluster, Optuna + ASHA, resumable.

The experiment folder holds Ray Tune's state (`tune/`), one build folder per trial (`trials/<id>/`)
and, at the end, the search report and the best artifact. Running the same command on the same
folder continues an interrupted search (`Tuner.restore`) instead of starting over.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgecomp.budget_search.progress import SearchProgress
from edgecomp.budget_search.scheduler import SearchASHA
from edgecomp.budget_search.trial import run_trial
from edgecomp.compress.context import RunContext
from edgecomp.core.errors import TargetError, UsageError
from edgecomp.core.progress import step
from edgecomp.plan.plan import parse_plan
from edgecomp.plan.search_space import SearchSpace, sample_point
from edgecomp.run.pipeline import load_plan_dataset, run_stages

TUNE_FOLDER = "tune"


@dataclass
class SearchRequest:
    """Everything one search needs, as plain data (it is shipped to every trial)."""

    experiment: Path
    plan: dict  # a dumped Plan, its `stages` and `search` removed
    train_stage: dict  # the plan's train stage, the first stage of every trial
    space: dict  # a dumped SearchSpace
    model_is_file: bool
    budget: dict  # Budget fields
    targets: list  # one {"name", "overrides", "resource"} per target; trials are judged on the worst of them
    trials: int = 8
    time_budget_s: Optional[float] = None
    workers: int = 1
    address: Optional[str] = None
    seed: int = 0
    verbose: bool = False
    command: str = ""

def start_ray(request: SearchRequest) -> None:
    """Embedded local Ray with `workers` CPUs and each target's device resource, or a connection to `address`.

    Raises:
        TargetError: the cluster lacks a target's `device:<target>` resource, so no benchmark could ever run.
    """
    import ray

    quiet = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=request.verbose,
                 configure_logging=True)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/TensorBoard files per trial
    if ray.is_initialized():
        pass  # a caller's own Ray (a notebook, a test): used as it is
    elif request.address:
        step(f"connecting to the Ray cluster at {request.address}")
        ray.init(address=request.address, **{k: v for k, v in quiet.items() if k != "include_dashboard"})
    else:
        step(f"starting an embedded Ray with {request.workers} worker(s)")
        # address="local": a Ray of its own even when `ray start` left a cluster on this machine, which
        # a bare ray.init() would join (and then refuse num_cpus)
        ray.init(address="local", num_cpus=request.workers,
                 resources={spec["resource"]: 1 for spec in request.targets}, **quiet)
    for resource in (spec["resource"] for spec in request.targets):
        if ray.cluster_resources().get(resource, 0) < 1:
            raise TargetError(f"the Ray cluster has no {resource!r} resource, so no trial could benchmark; start the "
                              f"node that reaches the device with `ray start ... --resources '{{\"{resource}\": 1}}'`.")

class DefineByRun:
    """Optuna's conditional space as a picklable callable (Ray Tune saves the searcher with pickle).

    Returns the derived settings (not sampled by Optuna) as constants of the trial's config.
    """

    def __init__(self, space: dict, model_is_file: bool):
        self.space, self.model_is_file = space, model_is_file

    def __call__(self, trial) -> dict:
        point = sample_point(trial, SearchSpace.model_validate(self.space), self.model_is_file)
        return {key: value for key, value in point.items() if key not in trial.params}

def _searcher(request: SearchRequest):
    import optuna
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    if not request.verbose:
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in memory" is noise here

    searcher = OptunaSearch(space=DefineByRun(request.space, request.model_is_file), metric="score", mode="max",
                            seed=request.seed, points_to_evaluate=request.space["start_points"] or None)
    return ConcurrencyLimiter(searcher, max_concurrent=request.workers)

def _scheduler(request: SearchRequest):
    """ASHA on validation accuracy; epochs after the teacher are the time axis (the fidelity).
    Trials are compared with trials of the same student, and start points (baselines) are never
    stopped early (`edgecomp.budget_search.scheduler`).

    max_t is one above the longest trial's epochs: a trial that trained its last epoch must still
    export and benchmark, and ASHA stops any trial that reaches max_t.
    """
    from edgecomp.plan.search_space import SearchSpace, max_epochs

    space = SearchSpace.model_validate(request.space)
    if not space.early_stopping:
        return None  # Tune's FIFO scheduler: every trial runs to its end
    return SearchASHA(space.start_points, time_attr="epochs_done", metric="val_accuracy", mode="max",
                      max_t=max_epochs(space) + 1, grace_period=space.min_epochs, reduction_factor=2)

def tune_folder(experiment: Path) -> Path:
    return experiment / TUNE_FOLDER

def run_search(request: SearchRequest):
    """Runs (or resumes) the search and returns Ray Tune's ResultGrid.

    Raises:
        UsageError: the experiment folder holds a search that cannot be restored.
    """
    require_search_extra()
    import ray

    try:
        if not request.address:
            cache_teacher(request)
        start_ray(request)
        return _fit(request)
    finally:
        ray.shutdown()  # stops an embedded Ray; disconnects from a cluster

def cache_teacher(request: SearchRequest) -> None:
    """Runs the plan's train stage once, here, so that every trial finds the teacher in the stage cache.

    Trials that start together would otherwise each train it (the cache has no lock). On a cluster
    (`--address`) each node's cache is its own, so this is left to the first trial on each node.
    """

    plan = parse_plan({**request.plan, "stages": [request.train_stage]}, source="search plan")
    step("the teacher: trained once for every trial, or found in the stage cache")
    run_stages(RunContext(plan=plan, data=load_plan_dataset(plan), run_dir=request.experiment / "teacher"))

def require_search_extra() -> None:
    """Raises UsageError when Ray Tune or Optuna is not installed (they are the `search` extra)."""
    import importlib.util

    missing = [name for name in ("ray", "optuna") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"edgecomp search needs {' and '.join(missing)}: pip install 'edgecomp[search]'.")

def _fit(request: SearchRequest):
    from ray import tune

    context = {"plan": request.plan, "train_stage": request.train_stage, "space": request.space,
               "budget": request.budget, "targets": request.targets, "experiment": str(request.experiment.resolve()),
               "verbose": request.verbose, "command": request.command}
    trainable = tune.with_resources(tune.with_parameters(run_trial, context=context), {"cpu": 1})
    path = tune_folder(request.experiment.resolve())
    if tune.Tuner.can_restore(str(path)):
        step(f"resuming the search in {request.experiment}: finished trials are kept; the trial count, search "
             "space and time budget are the first run's, the budget given now judges every trial")
        try:
            tuner = tune.Tuner.restore(str(path), trainable, resume_unfinished=True, resume_errored=True)
        except Exception as err:  # Ray raises several types for a damaged or foreign state
            raise UsageError(f"cannot resume the search in {path}: {err}; use a new --out folder.") from err
    else:
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(search_alg=_searcher(request), scheduler=_scheduler(request),
                                        num_samples=request.trials, max_concurrent_trials=request.workers,
                                        time_budget_s=request.time_budget_s),
            run_config=tune.RunConfig(name=TUNE_FOLDER, storage_path=str(path.parent), verbose=0,
                                      callbacks=[SearchProgress(request.trials)],
                                      failure_config=tune.FailureConfig(max_failures=0)),
        )
    previous = signal.signal(signal.SIGINT, _second_ctrl_c)
    try:
        grid = tuner.fit()
        interrupted = _tune_saw_ctrl_c() or grid.num_terminated + grid.num_errors < len(grid)
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt  # the CLI says how to resume (exit 130)
    return grid

def _second_ctrl_c(signum, frame):
    raise KeyboardInterrupt

def _tune_saw_ctrl_c() -> bool:
    """True when Ctrl-C ended `Tuner.fit`, which then saves its state and returns instead of raising.

    Ray Tune (ray/tune/tune.py, _setup_signal_catching) replaces the SIGINT handler while it runs and,
    on the first Ctrl-C, puts back the one it found (ours, `_second_ctrl_c`); after a normal end its
    own handler is still installed. Its trials' statuses cannot tell: a trial that was about to start
    is TERMINATED either way.
    """
    if os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0") != "0":
        return False
    return signal.getsignal(signal.SIGINT) is _second_ctrl_c
