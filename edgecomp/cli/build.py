"""`edgecomp build`: the whole pipeline, from a plan file or from flags. Parses, calls `edgecomp.build`
(edgecomp.api.build), prints the result."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from edgecomp.cli.common import (
    DATASET_OPTION,
    TARGETS_OPTION,
    VERBOSE_OPTION,
    WIDE_OPTION,
    handle_errors,
    invoked_command,
    shared_options,
)


class Preset(str, Enum):
    fast = "fast"
    quality = "quality"


class Normalization(str, Enum):
    """The named input ranges of `dataset.normalization` (a {scale, offset} needs a plan file)."""

    unit = "unit"
    symmetric = "symmetric"
    imagenet = "imagenet"
    raw = "raw"


# Shared with `search`, whose trials take the same preset.
PRESET_OPTION = typer.Option(
    None, help="fast (the default: demo budget) or quality (3x the distillation epochs, longer fine-tuning); "
               "fills the stage settings the plan leaves unset.")
CONFIG_OPTION = typer.Option(None, "--config", "-c", help="Plan YAML (stages, export, bench).")
MODEL_OPTION = typer.Option(None, help="Zoo model name or a .keras/.h5/SavedModel path.")
EPOCHS_OPTION = typer.Option(None, min=0, help="Training epochs (overrides the plan).")
TRAIN_LIMIT_OPTION = typer.Option(None, min=1, help="Use at most N training images.")
SEED_OPTION = typer.Option(None, help="Random seed.")


@handle_errors
@shared_options
def build_command(
    config: Optional[Path] = CONFIG_OPTION,
    model: Optional[str] = MODEL_OPTION,
    dataset: Optional[str] = DATASET_OPTION,
    normalization: Optional[Normalization] = typer.Option(
        None, help="dataset.normalization: unit (x/255, default), symmetric, imagenet or raw (0..255)."),
    target: list[str] = TARGETS_OPTION,
    connection: dict = None,  # --host, --port, --user, --key, --serial (edgecomp.cli.common)
    out: Optional[Path] = typer.Option(None, help="Run folder (default: runs/<plan name>)."),
    epochs: Optional[int] = EPOCHS_OPTION,
    train_limit: Optional[int] = TRAIN_LIMIT_OPTION,
    seed: Optional[int] = SEED_OPTION,
    preset: Optional[Preset] = PRESET_OPTION,
    time_budget: Optional[str] = typer.Option(
        None, help="Training time allowed (20m, 1h30m, seconds): a stage runs fewer epochs to fit its share."),
    as_json: bool = typer.Option(False, "--json", help="Print report.json to stdout."),
    gates: dict = None,  # --max-size-mb, --max-latency-ms, --min-accuracy, --gate-scope (edgecomp.cli.common)
    verbose: bool = VERBOSE_OPTION,
    wide: bool = WIDE_OPTION,
    cache: bool = typer.Option(True, "--cache/--no-cache",
                               help="Reuse finished stages from the stage cache (and resume after Ctrl-C)."),
) -> None:
    """Train or load, compress, export, check and benchmark a model; write the report."""
    from edgecomp.core.verbosity import set_verbose

    set_verbose(verbose)  # before TensorFlow is imported
    from edgecomp.api.build import build
    from edgecomp.reporting.summary import print_multi_target_summary, print_summary

    result = build(model, dataset, target=target[0] if len(target) == 1 else target, plan=config,
                   preset=preset.value if preset else None, out=out,
                   normalization=normalization.value if normalization else None, epochs=epochs,
                   train_limit=train_limit, seed=seed, time_budget=time_budget, connection=connection,
                   use_cache=cache,
                   verbose=verbose, command=invoked_command(), **gates)
    if as_json:
        typer.echo(json.dumps(result.report))
    elif len(target) > 1:
        print_multi_target_summary(result.report)
    else:
        print_summary(result.report, wide=wide)
    result.raise_for_status()

