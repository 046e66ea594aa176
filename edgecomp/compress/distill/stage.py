"""The `distill` stage: KD, teacher-assistant KD, BYOT and DLB self-distillation.

`METHODS` maps a method name to its code; each method module registers itself when imported
below, under the name its settings have in `edgecomp.plan.stage_settings.DISTILL_METHODS`. The stage
checks the settings against the model and data before any training, fills in the method's
defaults, runs it and records the settings it used.
"""

from __future__ import annotations

from edgecomp.compress.bn_stats import reestimate_and_measure
from edgecomp.compress.context import RunContext
from edgecomp.compress.distill import (
    byot,  # noqa: F401 - registers "byot"
    dlb,  # noqa: F401 - registers "dlb"
    kd,  # noqa: F401 - registers "kd"
    takd,  # noqa: F401 - registers "takd"
)
from edgecomp.compress.distill.base import METHODS, DistillMethod
from edgecomp.core.tfenv import seed_everything
from edgecomp.plan.plan import is_model_file
from edgecomp.plan.stage_settings import DistillConfig

__all__ = ["METHODS", "DistillConfig", "DistillMethod", "run_distill"]


def run_distill(ctx: RunContext, cfg: DistillConfig) -> dict:
    """Runs one distillation method on `ctx` and leaves the distilled model in `ctx.model`.

    Raises:
        UsageError: settings that do not fit the model or data (checked before training).
    """
    method = METHODS.get(cfg.method)
    model_is_file = is_model_file(ctx.plan.model)
    resolved = cfg.resolved(model_is_file=model_is_file)
    method.check(ctx, resolved)
    seed_everything(ctx.plan.seed)
    info = method.run(ctx, resolved)
    # The distilled model's BN statistics, measured with its final weights (compress.bn_stats).
    info["bn_statistics"] = reestimate_and_measure(ctx.model, ctx.data, resolved.batch_size, seed=ctx.plan.seed)
    info["method"] = cfg.method
    info["settings"] = resolved.used_settings()
    if resolved.student is not None:
        info["student_choice"] = student_choice(cfg.student, resolved.student, model_is_file)
    info["params"] = int(ctx.model.count_params())
    return info


def student_choice(asked: str | None, used: str, model_is_file: bool) -> str:
    """Which student the stage used and why, for the report."""
    if asked is not None:
        return f"student {used}: set in the plan"
    why = f"student {used}: the default for {'a user model file' if model_is_file else 'a zoo teacher'}"
    return why if used == "auto" else why + " (set student: auto for the teacher's own architecture, narrower)"
