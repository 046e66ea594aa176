"""The context a plan's stages run in.

A stage is a settings model (`edgecomp.plan.stage_settings`, checked when the plan is read) and a
`run(ctx, cfg) -> info` function that reads and replaces `ctx.model`; `edgecomp/compress/__init__.py`
imports every stage's `run` explicitly and registers it in `edgecomp.run.stages.STAGES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from edgecomp.core.progress import warn
from edgecomp.core.records import ExportInputs, RunWarning
from edgecomp.plan.precisions import PRECISIONS

if TYPE_CHECKING:
    from edgecomp.data.dataset import Dataset
    from edgecomp.plan.plan import Plan

@dataclass
class RunContext:
    """What stages share: the plan, the data, the run folder and the model being compressed."""

    plan: Plan
    data: Dataset
    run_dir: Path
    model: Any = None  # the current Keras model
    # The precisions exported beside float32, in order: recipe names of edgecomp.plan.precisions
    # (PTQ modes, and what the qat and float-fallback settings add). Grown through add_precision.
    ptq_modes: list[str] = field(default_factory=list)
    export_inputs: ExportInputs = field(default_factory=ExportInputs)  # what export needs besides `model`
    warnings: list[RunWarning] = field(default_factory=list)  # sanity checks' findings (edgecomp.models.sanity)

    def add_precision(self, name: str) -> None:
        """Asks export for an artifact of the recipe `name` (once, however many stages ask).

        Raises:
            UsageError: `name` is not a registered precision (the message suggests the closest).
        """
        PRECISIONS.get(name)
        if name not in self.ptq_modes:
            self.ptq_modes.append(name)

    def warn(self, warning: RunWarning) -> None:
        """Records a warning for report.json and prints it now, in yellow."""

        self.warnings.append(warning)
        warn(warning)

# What a stage runs: (ctx, its settings) -> the info recorded in the report.
StageRun = Callable[[RunContext, Any], dict]
