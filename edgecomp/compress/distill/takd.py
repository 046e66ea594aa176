"""Teacher-assistant KD (Mirzadeh et al., "Improved Knowledge Distillation via Teacher
Assistant", AAAI 2020, arXiv:1902.03393): teacher -> assistant(s) -> student, each step plain KD.

An assistant of intermediate size bridges a large teacher-student gap. Every step uses the same
KD settings; the stage leaves the final student in `ctx.model`.
"""

from __future__ import annotations

from edgecomp.compress.bn_stats import reestimate_bn_statistics
from edgecomp.compress.distill.base import (
    DistillConfig,
    DistillMethod,
    check_compatible,
    check_outputs_logits,
    register,
    resolve_model,
)
from edgecomp.compress.distiller import distill_kd
from edgecomp.core.progress import step

DEFAULT_ASSISTANTS = ["cnn-assistant"]


def chain_names(cfg: DistillConfig) -> list[str]:
    """Assistants (largest first) then the student."""
    return list(cfg.assistants if cfg.assistants is not None else DEFAULT_ASSISTANTS) + [cfg.student]


def check_takd(ctx, cfg: DistillConfig) -> None:
    # An empty `assistants` list is refused when the plan is read (stage_settings.DistillConfig).
    teacher = ctx.model
    check_outputs_logits(teacher, "teacher")
    for name in chain_names(cfg):
        model = resolve_model(name, ctx.data)
        check_compatible(model, teacher, what=f"model {name} in the takd chain,")
        check_outputs_logits(model, name)


def run_takd(ctx, cfg: DistillConfig) -> dict:
    teacher = ctx.model
    steps = []
    total_seconds = 0.0
    names = chain_names(cfg)
    for index, name in enumerate(names, start=1):
        student = resolve_model(name, ctx.data)
        step(f"takd step {index}: {teacher.name} ({teacher.count_params():,} params) -> "
             f"{student.name} ({student.count_params():,} params)")
        info = distill_kd(student, teacher, ctx.data, cfg, label=f"takd {index}", seed=ctx.plan.seed, fresh_bn=True)
        info["model"] = name
        if index < len(names):  # an assistant teaches next, in inference mode: its BN statistics
            # must be its final weights' (the student's are measured by run_distill after the chain)
            info["bn_statistics"] = reestimate_bn_statistics(student, ctx.data, cfg.batch_size, seed=ctx.plan.seed)
        total_seconds += info["seconds_per_epoch"] * info["epochs"] + info["teacher_logits_seconds"]
        steps.append(info)
        teacher = student
    ctx.model = teacher
    return {"chain": [record["model"] for record in steps], "steps": steps,
            "train_seconds": round(total_seconds, 3)}


register("takd", DistillMethod(run=run_takd, check=check_takd))
