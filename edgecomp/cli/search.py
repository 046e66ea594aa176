"""`edgecomp search`: the most accurate model that fits a device budget, searched on Ray Tune.

The command only parses and calls: the plan comes from `edgecomp.cli.build.plan_from_options` (same
model / dataset / target flags as `build`), the search itself from `edgecomp.search`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from edgecomp.cli.build import PRESET_OPTION, Preset, plan_from_options
from edgecomp.cli.common import (
    DATASET_OPTION,
    HOST_OPTION,
    KEY_OPTION,
    PORT_OPTION,
    SERIAL_OPTION,
    TARGET_OPTION,
    USER_OPTION,
    VERBOSE_OPTION,
    handle_errors,
    invoked_command,
    resolve_target,
)
from edgecomp.core.errors import UsageError
from edgecomp.core.progress import step

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: Optional[str]) -> Optional[float]:
    """'30m', '1h30m', '90s' or a plain number of seconds -> seconds (None stays None).

    Raises:
        UsageError: text that is none of these.
    """
    if text is None:
        return None
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    match = _DURATION.match(text)
    if not text or not match or not any(match.groups()):
        raise UsageError(f"--time-budget {text!r} is not a duration; write e.g. 30m, 1h30m, 90s or 600 (seconds).")
    hours, minutes, seconds = (float(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


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


def search_request(plan, device, target: str, overrides: dict, out: Path, budget, trials: int,
                   time_budget: Optional[str], workers: int, address: Optional[str], verbose: bool):
    """The plan split into what every trial shares and the search space, as a SearchRequest."""
    from edgecomp.plan.plan import is_model_file
    from edgecomp.plan.search_space import SearchSpace
    from edgecomp.search.device import device_resource
    from edgecomp.search.runner import SearchRequest

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
    return SearchRequest(
        experiment=out, plan=shared, train_stage=train_stage, space=space.model_dump(mode="json"),
        model_is_file=model_is_file, budget=budget.__dict__.copy(),
        target={"name": target, "overrides": overrides, "resource": device_resource(device.name)},
        trials=trials, time_budget_s=parse_duration(time_budget), workers=workers, address=address, seed=plan.seed,
        verbose=verbose, command=invoked_command())


@handle_errors
def search_command(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Plan YAML; its `search:` section is the "
                                                                          "search space (defaults when absent)."),
    model: Optional[str] = typer.Option(None, help="Zoo model name or a .keras/.h5/SavedModel path (the teacher)."),
    dataset: Optional[str] = DATASET_OPTION,
    target: str = TARGET_OPTION,
    host: Optional[str] = HOST_OPTION,
    port: Optional[int] = PORT_OPTION,
    user: Optional[str] = USER_OPTION,
    key: Optional[str] = KEY_OPTION,
    serial: Optional[str] = SERIAL_OPTION,
    out: Path = typer.Option(Path("runs/search"), help="Experiment folder; the same folder resumes a search."),
    epochs: Optional[int] = typer.Option(None, min=0, help="Teacher training epochs (overrides the plan)."),
    train_limit: Optional[int] = typer.Option(None, min=1, help="Use at most N training images."),
    seed: Optional[int] = typer.Option(None, help="Random seed (also the searcher's)."),
    preset: Optional[Preset] = PRESET_OPTION,
    max_size_kb: Optional[float] = typer.Option(None, min=0, help="Budget: largest file in kB (10^3 bytes, raw)."),
    max_gzip_kb: Optional[float] = typer.Option(None, min=0, help="Budget: largest gzip-compressed file in kB."),
    max_latency_ms: Optional[float] = typer.Option(None, min=0, help="Budget: largest latency p50 on the target."),
    max_memory_mb: Optional[float] = typer.Option(None, min=0, help="Budget: largest model memory (its own peak "
                                                                     "RSS on the target, model_peak_mb) in MB."),
    min_accuracy: Optional[float] = typer.Option(None, min=0, max=100, help="Budget: smallest accuracy in percent."),
    trials: int = typer.Option(8, min=1, help="Trials to run (fewer when --time-budget ends the search first)."),
    time_budget: Optional[str] = typer.Option(None, help="Wall-time limit of the search, e.g. 30m or 1h."),
    address: Optional[str] = typer.Option(None, help="Ray cluster: auto or ray://HOST:PORT [default: an embedded "
                                                     "local Ray]."),
    workers: int = typer.Option(1, min=1, help="Trials trained at the same time (one CPU each)."),
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Search compression chains for the most accurate model that fits a budget on the target."""
    from edgecomp.core.verbosity import set_verbose

    set_verbose(verbose)  # before TensorFlow is imported
    from edgecomp.search.budget import Budget
    from edgecomp.search.results import trial_rows, write_search_report
    from edgecomp.search.runner import run_search

    budget = Budget(max_size_kb=max_size_kb, max_gzip_kb=max_gzip_kb, max_latency_ms=max_latency_ms,
                    max_memory_mb=max_memory_mb, min_accuracy=None if min_accuracy is None else min_accuracy / 100)
    plan = plan_from_options(config, model, dataset, epochs, train_limit, seed, preset.value if preset else None)
    overrides = {k: v for k, v in dict(host=host, port=port, user=user, key=key, serial=serial).items() if v}
    device = resolve_target(target, **overrides)
    refuse_emulated_limits(device, max_latency_ms=max_latency_ms, max_memory_mb=max_memory_mb)
    if "threads" not in plan.bench.model_fields_set:
        plan.bench.threads = device.profile.threads  # the device profile's default, recorded in the plan
    device.check()  # an unreachable device fails before any trial trains
    request = search_request(plan, device, target, overrides, out, budget, trials, time_budget, workers, address,
                             verbose)
    grid = run_search(request)
    summary = write_search_report(trial_rows(grid), budget, out, {"command": request.command,
                                                                   "target": device.name, "address": address})
    best = summary["best"]
    typer.echo(f"best: trial {best['trial_id']}, {100 * best['accuracy']:.2f} % "
               f"({best.get('size_kb'):.1f} kB), in {out / 'best'}; every trial in {out / 'search.html'}")
