"""`width: auto`: the narrowest automatic student that keeps the teacher's accuracy, found by short probes.

Each width of AUTO_WIDTHS, from the widest, is made from the teacher (`narrow_teacher`) and distilled
for a fifth of the stage's epochs, rounded down (at least one); its best validation accuracy is
compared with the teacher's on the same images. The probes stop at the first width that loses more than `max_drop`
points: a narrower one has less capacity still. The narrowest width within the bound is then
distilled for the whole schedule, from the teacher again. When even the widest misses, the widest
is taken and the record says so. Every width tried is recorded with its accuracy.

A probe's accuracy is a lower bound of what its width reaches with the whole schedule, so the rule
errs towards a wider student.
"""

from __future__ import annotations

import math

from edgecomp.compress.distill.auto_student import narrow_teacher
from edgecomp.compress.distiller import distill_kd
from edgecomp.core.progress import step
from edgecomp.data.pipeline import accuracy
from edgecomp.plan.stage_settings import AUTO_WIDTHS, DistillConfig

PROBE_SHARE = 0.2  # of the stage's epochs, per width probed


def choose_width(cfg: DistillConfig, teacher, data, seed: int) -> tuple[float, dict]:
    """(the width to distill, the record of every width tried)."""
    teacher_val = accuracy(teacher, data, "val", batch_size=512)
    probe = cfg.model_copy(update={"epochs": max(1, math.floor(cfg.epochs * PROBE_SHARE)), "restore_best": True})
    step(f"width auto: probing widths {', '.join(f'{w:g}' for w in AUTO_WIDTHS)} (wide to narrow) for "
         f"{probe.epochs} epoch(s) each, against the teacher's validation accuracy {100 * teacher_val:.2f}% "
         f"(max_drop {cfg.max_drop:g} pt)")
    tried, chosen = [], None
    for width in AUTO_WIDTHS:
        student, _ = narrow_teacher(teacher, data, width)
        info = distill_kd(student, teacher, data, probe, label=f"probe width {width:g}", seed=seed, fresh_bn=True)
        best = max(info["history"]["val_accuracy"])
        drop = 100 * (teacher_val - best)
        within = drop <= cfg.max_drop + 1e-9
        tried.append({"width": width, "params": int(student.count_params()), "val_accuracy": best,
                      "drop_points": round(drop, 3), "within_max_drop": within})
        step(f"width {width:g}: {student.count_params():,} params, validation {100 * best:.2f}% "
             f"({-drop:+.2f} pt against the teacher){'' if within else ', beyond max_drop: narrower ones not tried'}")
        if not within:
            break
        chosen = width
    reason = (f"the narrowest width within {cfg.max_drop:g} pt of the teacher on validation after {probe.epochs} "
              "epoch(s)" if chosen is not None else
              f"no width stayed within {cfg.max_drop:g} pt after {probe.epochs} epoch(s): the widest is taken")
    chosen = AUTO_WIDTHS[0] if chosen is None else chosen
    return chosen, {"chosen": chosen, "reason": reason, "teacher_val_accuracy": teacher_val,
                    "probe_epochs": probe.epochs, "max_drop": cfg.max_drop, "tried": tried}
