"""`edgecomp search`: the most accurate model that fits a device budget, searched on Ray Tune.

The command only parses and calls `edgecomp.search` (edgecomp.api.search); the model, dataset,
target and connection flags are `build`'s, the budget flags are defined once in `edgecomp.cli.common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgecomp.cli.build import CONFIG_OPTION, EPOCHS_OPTION, PRESET_OPTION, SEED_OPTION, TRAIN_LIMIT_OPTION, Preset
from edgecomp.cli.common import (
    DATASET_OPTION,
    TARGETS_OPTION,
    VERBOSE_OPTION,
    handle_errors,
    invoked_command,
    shared_options,
)


@handle_errors
@shared_options
def search_command(
    config: Optional[Path] = CONFIG_OPTION,
    model: Optional[str] = typer.Option(None, help="Zoo model name or a .keras/.h5/SavedModel path (the teacher)."),
    dataset: Optional[str] = DATASET_OPTION,
    target: list[str] = TARGETS_OPTION,
    connection: dict = None,  # --host, --port, --user, --key, --serial (edgecomp.cli.common)
    out: Path = typer.Option(Path("runs/search"), help="Experiment folder; the same folder resumes a search."),
    epochs: Optional[int] = EPOCHS_OPTION,
    train_limit: Optional[int] = TRAIN_LIMIT_OPTION,
    seed: Optional[int] = SEED_OPTION,
    preset: Optional[Preset] = PRESET_OPTION,
    budget: dict = None,  # --max-size-kb, --max-gzip-kb, --max-latency-ms, --max-memory-mb, --min-accuracy
    trials: int = typer.Option(8, min=1, help="Trials to run (fewer when --time-budget ends the search first)."),
    time_budget: Optional[str] = typer.Option(None, help="Wall-time limit of the search, e.g. 30m or 1h."),
    address: Optional[str] = typer.Option(None, help="Ray cluster: auto or ray://HOST:PORT (default: an embedded "
                                                     "local Ray)."),
    workers: int = typer.Option(1, min=1, help="Trials trained at the same time (one CPU each)."),
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Search compression chains for the most accurate model that fits a budget on the target."""
    from edgecomp.core.verbosity import set_verbose

    set_verbose(verbose)  # before TensorFlow is imported
    from edgecomp.api.search import search

    result = search(model, dataset, target=target[0] if len(target) == 1 else target, plan=config, out=out,
                    trials=trials, time_budget=time_budget, workers=workers, address=address,
                    preset=preset.value if preset else None, epochs=epochs, train_limit=train_limit,
                    seed=seed, connection=connection, verbose=verbose, command=invoked_command(), **budget)
    best = result.best
    slowest = (f", slowest on {best['slowest_target']} (p50 {best['latency_p50_ms']:.3g} ms)"
               if best.get("slowest_target") and best.get("latency_p50_ms") is not None else "")
    typer.echo(f"best: trial {best['trial_id']}, {100 * best['accuracy']:.2f} % "
               f"({best.get('size_kb'):.1f} kB{slowest}), in {result.best_folder}; "
               f"every trial in {out / 'search.html'}")
