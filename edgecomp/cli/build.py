"""`edgecomp build`: the whole pipeline, from a plan file or from flags."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

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
from edgecomp.cli.report import (
    GATE_SCOPE_OPTION,
    MAX_LATENCY_OPTION,
    MAX_SIZE_OPTION,
    MIN_ACCURACY_OPTION,
    WIDE_OPTION,
    GateScope,
)
from edgecomp.report.gates import raise_for_gates, validate_gates


class Preset(str, Enum):
    fast = "fast"
    quality = "quality"


def plan_from_options(config: Optional[Path], model: Optional[str], dataset: Optional[str],
                      epochs: Optional[int], train_limit: Optional[int], seed: Optional[int],
                      preset: Optional[str] = None):
    """The plan file (or the default plan) with command-line flags applied on top."""
    from edgecomp.plan.plan import default_stages, load_yaml, parse_plan

    data = load_yaml(config) if config else {}
    if model:
        data["model"] = model
    if dataset:
        data.setdefault("dataset", {})["name"] = dataset
    if train_limit:
        data.setdefault("dataset", {})["train_limit"] = train_limit
    if seed is not None:
        data["seed"] = seed
    if preset:
        data["preset"] = preset
    if epochs is not None:
        # A user's model file with no epochs is loaded as is: the plan decides (Plan._user_model_loaded_as_is).
        stages = data.setdefault("stages", default_stages(str(data.get("model", "cnn-teacher"))))
        for stage in stages:
            if isinstance(stage, dict) and stage.get("stage") == "train":
                stage["epochs"] = epochs
    return parse_plan(data, source=f"plan {config}" if config else "plan")


# Shared with `search`, whose trials take the same preset.
PRESET_OPTION = typer.Option(
    None, help="fast (the default: demo budget) or quality (3x the distillation epochs, longer fine-tuning); "
               "fills the stage settings the plan leaves unset.")


@handle_errors
def build_command(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Plan YAML (stages, export, bench)."),
    model: Optional[str] = typer.Option(None, help="Zoo model name or a .keras/.h5/SavedModel path."),
    dataset: Optional[str] = DATASET_OPTION,
    target: str = TARGET_OPTION,
    host: Optional[str] = HOST_OPTION,
    port: Optional[int] = PORT_OPTION,
    user: Optional[str] = USER_OPTION,
    key: Optional[str] = KEY_OPTION,
    serial: Optional[str] = SERIAL_OPTION,
    out: Optional[Path] = typer.Option(None, help="Run folder [default: runs/<plan name>]."),
    epochs: Optional[int] = typer.Option(None, min=0, help="Training epochs (overrides the plan)."),
    train_limit: Optional[int] = typer.Option(None, min=1, help="Use at most N training images."),
    seed: Optional[int] = typer.Option(None, help="Random seed."),
    preset: Optional[Preset] = PRESET_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print report.json to stdout."),
    max_size_mb: Optional[float] = MAX_SIZE_OPTION,
    max_latency_ms: Optional[float] = MAX_LATENCY_OPTION,
    min_accuracy: Optional[float] = MIN_ACCURACY_OPTION,
    gate_scope: GateScope = GATE_SCOPE_OPTION,
    verbose: bool = VERBOSE_OPTION,
    wide: bool = WIDE_OPTION,
    cache: bool = typer.Option(True, "--cache/--no-cache",
                               help="Reuse finished stages from the stage cache (and resume after Ctrl-C)."),
) -> None:
    """Train or load, compress, export, check and benchmark a model; write the report."""
    from edgecomp.core.verbosity import set_verbose

    set_verbose(verbose)  # before TensorFlow is imported
    from edgecomp.report.summary import print_summary
    from edgecomp.run.pipeline import raise_for_failed_artifacts, raise_for_float_parity, run_build

    plan = plan_from_options(config, model, dataset, epochs, train_limit, seed, preset.value if preset else None)
    run_dir = out or Path("runs") / plan.name
    gates = {"max_size_mb": max_size_mb, "max_latency_ms": max_latency_ms, "min_accuracy": min_accuracy}
    validate_gates(**gates)
    device = resolve_target(target, host=host, port=port, user=user, key=key, serial=serial)
    if "threads" not in plan.bench.model_fields_set:
        plan.bench.threads = device.profile.threads  # the device profile's default, recorded in the plan
    report = run_build(plan, run_dir, device, command=invoked_command(),
                       gates={**gates, "scope": gate_scope.value}, use_cache=cache)
    if as_json:
        typer.echo(json.dumps(report))
    else:
        print_summary(report, wide=wide)
    raise_for_float_parity(report)
    raise_for_failed_artifacts(report)  # exit 1 before a gate's exit 3: a failure is not a quality verdict
    raise_for_gates(report, scope=gate_scope.value, **gates)
