"""Knowledge distillation (Hinton et al. 2015): a student learns from the plan's model as teacher.

The teacher is the model in `ctx.model`; the stage leaves the plain student (functional Keras
model) in `ctx.model`. Without data augmentation the teacher's logits on a training image never
change, so by default they are computed once before training (`teacher_logits: cached`) instead
of on every step (`on_the_fly`); both give the same loss, see benchmarks/distillation. With
augmentation the default is `on_the_fly`: the teacher sees the same augmented batch as the
student (function matching, Beyer et al. 2022, arXiv:2106.05237).
"""

from __future__ import annotations

from edgecomp.compress.distill.auto_student import narrow_teacher
from edgecomp.compress.distill.auto_width import choose_width
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
from edgecomp.plan.stage_settings import AUTO_STUDENT


def make_student(cfg: DistillConfig, teacher, data) -> tuple[object, dict]:
    """The student `cfg` names: `auto` (the teacher narrowed), a zoo model or a model file."""
    if cfg.student == AUTO_STUDENT:
        return narrow_teacher(teacher, data, cfg.width)
    return resolve_model(cfg.student, data), {}


def check_kd(ctx, cfg: DistillConfig) -> None:
    teacher = ctx.model
    check_outputs_logits(teacher, "teacher")
    if cfg.student == AUTO_STUDENT:  # narrowed from the teacher: same input and classes by construction
        return
    student = resolve_model(cfg.student, ctx.data)
    check_compatible(student, teacher)
    check_outputs_logits(student, "student")


def run_kd(ctx, cfg: DistillConfig) -> dict:
    teacher = ctx.model
    width_search = None
    if cfg.student == AUTO_STUDENT and cfg.width == "auto":
        width, width_search = choose_width(cfg, teacher, ctx.data, ctx.plan.seed)
        cfg = cfg.model_copy(update={"width": width})
    student, auto = make_student(cfg, teacher, ctx.data)
    how = f" (auto: its own architecture at width {cfg.width:g})" if auto else ""
    step(f"distilling {teacher.name} ({teacher.count_params():,} params) into {student.name}{how} "
         f"({student.count_params():,} params), T={cfg.temperature}, alpha={cfg.alpha}")
    info = distill_kd(student, teacher, ctx.data, cfg, seed=ctx.plan.seed, fresh_bn=True)
    if auto:
        info["auto_student"] = auto
    if width_search:
        info["auto_width"] = width_search
    ctx.model = student
    return info


register("kd", DistillMethod(run=run_kd, check=check_kd))
