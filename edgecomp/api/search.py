"""`edgecomp.search`: the most accurate compression chain that fits a device budget, on Ray Tune.

`edgecomp search` parses its flags and calls this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

from edgecomp.api.device import connection_overrides, resolve_devices
from edgecomp.api.inputs import DataInput, ModelInput, dataset_reference, model_reference
from edgecomp.api.plans import PlanInput, resolve_plan
from edgecomp.core import durations
from edgecomp.core.errors import DependencyError, UsageError
from edgecomp.core.progress import step
from edgecomp.core.verbosity import set_verbose


@dataclass(frozen=True)
class SearchResult:
    """A finished search: the best trial, every trial, the budget, the experiment folder.

    Attributes:
        experiment: the folder (search.json, search.html, best/ with the best artifact).
        best: the best trial's row (parameters and measured numbers), accuracy a fraction.
        best_folder: `experiment/best`, holding the best artifact, its model card and build report.
        trials: every trial's row. budget: the limits, as given (`min_accuracy` in percent).
        summary: the whole search.json document.
    """

    experiment: Path
    best: dict
    best_folder: Path
    trials: tuple[dict, ...]
    budget: dict
    summary: dict = field(repr=False)

    def to_dict(self) -> dict:
        return {key: value for key, value in self.summary.items() if not key.startswith("_")}

    def to_pandas(self):
        """Every trial as a pandas DataFrame row. Raises DependencyError without pandas."""
        try:
            import pandas
        except ImportError:
            raise DependencyError("to_pandas() needs pandas: `pip install pandas`.") from None
        return pandas.DataFrame(list(self.trials))

    def _repr_html_(self) -> str:
        """Jupyter's rendering: search.html's body (budget, best trial, Pareto plots, every trial)."""
        from edgecomp.budget_search.budget import Budget
        from edgecomp.budget_search.results import summary_html, trials_plots

        plots = trials_plots(list(self.trials), Budget(**self.budget))
        return "<div class=\"edgecomp-search\">" + "".join(summary_html(self.summary, plots)) + "</div>"


def parse_duration(text: Optional[str]) -> Optional[float]:
    """--time-budget's seconds (`edgecomp.core.durations`); None stays None.

    Raises:
        UsageError: text that is not a duration.

    Examples:
        >>> parse_duration("1h30m")
        5400.0
    """
    try:
        return None if text is None else durations.parse_duration(text)
    except ValueError as err:
        raise UsageError(f"--time-budget {err}") from None


def refuse_emulated_limits(device, **limits) -> None:
    """An emulated target's latency and memory are QEMU's (edgecomp.core.emulation): no budget may rest on them.

    Raises:
        UsageError: a latency or memory limit was given for an emulated target.
    """
    from edgecomp.core.emulation import is_emulated

    given = [f"--{name.replace('_', '-')}" for name, value in limits.items() if value is not None]
    if given and is_emulated(device):
        raise UsageError(f"{device.name} is emulated: its latency and memory are QEMU's on this machine, so "
                         f"{' and '.join(given)} cannot be checked; drop them (size and accuracy still apply) "
                         "or search on the real device.")


def search_request(plan, devices: list, targets: list[str], overrides: dict, out: Path, budget, trials: int,
                   time_budget: Union[str, float, None], workers: int, address: Optional[str], verbose: bool,
                   command: str):
    """The plan split into what every trial shares and the search space, as a SearchRequest."""
    from edgecomp.budget_search.device import device_resource
    from edgecomp.budget_search.runner import SearchRequest
    from edgecomp.plan.plan import is_model_file
    from edgecomp.plan.search_space import SearchSpace

    model_is_file = is_model_file(plan.model)
    ignored = [s.stage for s in plan.stages if s.stage != "train"]
    if ignored:
        step(f"the plan's {', '.join(ignored)} stage(s) are not used: every trial's chain comes from the search "
             "space (the plan's `search:` section)")
    train_stage = next((s.model_dump(mode="json") for s in plan.stages if s.stage == "train"), {"stage": "train"})
    if "export" not in plan.model_fields_set:
        plan.export.formats = ["tflite"]  # trials are judged on their TFLite file; ONNX would double the export
    shared = plan.model_dump(mode="json", exclude={"stages", "search"})
    space = plan.search or SearchSpace()
    if "auto" in space.student_choices(model_is_file) and not model_is_file:
        raise UsageError("search.students lists auto, which narrows a user's own model file; the plan's model "
                         f"{plan.model!r} is a zoo name, so list zoo students (e.g. [cnn-student, cnn-tiny]).")
    seconds = time_budget if isinstance(time_budget, (int, float)) else parse_duration(time_budget)
    return SearchRequest(
        experiment=out, plan=shared, train_stage=train_stage, space=space.model_dump(mode="json"),
        model_is_file=model_is_file, budget=budget.__dict__.copy(),
        targets=[{"name": target, "overrides": overrides, "resource": device_resource(device.name)}
                 for target, device in zip(targets, devices)],
        trials=trials, time_budget_s=seconds, workers=workers, address=address, seed=plan.seed,
        verbose=verbose, command=command)


def search(model: ModelInput = None, data: DataInput = None, *, target: Union[str, Sequence[str]] = "host",
           plan: PlanInput = None,
                  out: Union[str, Path] = "runs/search", max_size_kb: Optional[float] = None,
                  max_gzip_kb: Optional[float] = None, max_latency_ms: Optional[float] = None,
                  max_memory_mb: Optional[float] = None, min_accuracy: Optional[float] = None, trials: int = 8,
                  time_budget: Union[str, float, None] = None, workers: int = 1, address: Optional[str] = None,
                  preset: Optional[str] = None, epochs: Optional[int] = None, train_limit: Optional[int] = None,
                  seed: Optional[int] = None, normalization=None, class_names=None, connection: Optional[dict] = None,
                  verbose: bool = False, command: Optional[str] = None) -> SearchResult:
    """Search compression chains for the most accurate model that fits a budget on the target.

    Needs the `search` extra (`pip install 'edgecomp[search]'`: Ray Tune and Optuna). The same code as
    `edgecomp search`; the plan's `search:` section is the search space.

    Args:
        model, data, target, plan, preset, epochs, train_limit, seed, normalization, class_names,
            connection, verbose: as in `edgecomp.build` (the model is the teacher). With several targets
            each trial's file is exported once and measured on every target, and judged on its worst case
            over them: the lowest accuracy, the slowest p50 and the largest memory must fit the budget.
        out: the experiment folder; the same folder resumes a search.
        max_size_kb: largest file in kB (10^3 bytes). max_gzip_kb: largest gzip-compressed file in kB.
        max_latency_ms: largest latency p50. max_memory_mb: largest model memory (model_peak_mb) in MB.
        min_accuracy: smallest accuracy in percent (89.5 means 89.5 %), as the quality gates take it.
        trials: trials to run. time_budget: wall-time limit, "30m", "1h30m" or seconds.
        workers: trials trained at once. address: a Ray cluster ("auto", "ray://HOST:PORT"), else embedded.
        command: what the reports record as the command.

    Returns:
        A `SearchResult`.

    Raises:
        BudgetNotMetError: no trial meets the budget (search.json and search.html are written).
        UsageError: a bad setting. TargetError: an unreachable device (before any trial trains).

    Examples:
        >>> import edgecomp
        >>> edgecomp.search("cnn-tiny", min_accuracy=0.9)
        Traceback (most recent call last):
        ...
        edgecomp.core.errors.UsageError: --min-accuracy is in percent; 0.9 looks like a fraction. Pass 90 for 90 %.
    """
    from edgecomp.budget_search.budget import Budget

    set_verbose(verbose)  # before TensorFlow is imported
    budget = Budget(max_size_kb=max_size_kb, max_gzip_kb=max_gzip_kb, max_latency_ms=max_latency_ms,
                    max_memory_mb=max_memory_mb, min_accuracy=min_accuracy)
    out = Path(out)
    devices = resolve_devices(target, connection)  # every profile, before any work: a typo is a usage error
    resolved = resolve_plan(plan, model=model_reference(model, out), stages=None, preset=preset, epochs=epochs,
                            dataset=dataset_reference(data, out, normalization, class_names),
                            train_limit=train_limit, seed=seed, normalization=normalization)
    if resolved.time_budget is not None:
        # A build's training limit would make each trial's epochs depend on the load of the other trials.
        raise UsageError("the plan's time_budget limits one build's training; a search's limit is its own "
                         "--time-budget (time_budget= here): move it there, or drop it from the plan")
    for device in devices:
        refuse_emulated_limits(device, max_latency_ms=max_latency_ms, max_memory_mb=max_memory_mb)
    if len(devices) == 1 and "threads" not in resolved.bench.model_fields_set:
        resolved.bench.threads = devices[0].profile.threads  # the device profile's default, recorded in the plan
    for device in devices:  # several: each target's trials use its own profile's threads unless the plan sets them
        device.check()  # an unreachable device fails before any trial trains
    # a profile's YAML path made absolute: Ray Tune runs each trial in a folder of its own
    names = [str(Path(name).resolve()) if Path(name).is_file() else str(name)
             for name in ([target] if isinstance(target, (str, Path)) else target)]
    request = search_request(resolved, devices, names, connection_overrides(connection), out, budget, trials,
                             time_budget, workers, address, verbose, command or "edgecomp.search() from Python")
    return run_search_request(request, budget, [device.name for device in devices])


def run_search_request(request, budget, device_names: list[str]) -> SearchResult:
    """Runs the search and writes its report; the result of the best trial."""
    from edgecomp.budget_search.results import trial_rows, write_search_report
    from edgecomp.budget_search.runner import run_search

    grid = run_search(request)
    summary = write_search_report(trial_rows(grid), budget, request.experiment,
                                  {"command": request.command, "target": ", ".join(device_names),
                                   "targets": device_names, "address": request.address})
    return SearchResult(experiment=request.experiment, best=summary["best"],
                        best_folder=Path(summary["best_folder"]), trials=tuple(summary["trials"]),
                        budget=budget.limits(), summary=summary)
