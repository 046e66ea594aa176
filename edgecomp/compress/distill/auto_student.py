"""`student: auto`: the teacher's own architecture made narrower, as the student of a user's model.

A user's model holds choices a zoo CNN would throw away: its ops (depthwise convs, squeeze-and-
excitation, hard-swish), its input size, its residual structure. `narrow_teacher` keeps all of
them and removes a fraction `1 - width` of the filters/units of every layer structured pruning
can shrink (`edgecomp.compress.prune_structured`: layers meeting at a residual Add or an SE gate
lose the same channels), lowest L1 norm first. The student so starts from the teacher's strongest
filters rather than from random weights, and distillation then trains it. The first conv and the
classifier stay whole, as in the prune stage's defaults; every layer left whole is listed with
the reason.
"""

from __future__ import annotations

from edgecomp.compress.prune import resolve_targets, run_structured
from edgecomp.core.errors import UsageError
from edgecomp.plan.stage_settings import PruneConfig


def narrow_teacher(teacher, data, width: float):
    """A narrower copy of `teacher`, its weights taken from the teacher's kept filters.

    Args:
        teacher: a tf-keras functional model (a user's model is flattened when loaded).
        data: the Dataset (not used for training here; structured pruning takes it for fine-tuning).
        width: fraction of each layer's filters/units kept, in (0, 1].

    Returns:
        (student, info): info has the width, parameter counts, filters per layer before/after,
        the layers left whole with their reasons and the layers skipped by default.

    Raises:
        UsageError: no layer of the teacher can be narrowed.
    """

    cfg = PruneConfig(method="structured", sparsity=round(1.0 - width, 6), scope="both", epochs=0)
    targets, skipped = resolve_targets(teacher, cfg)
    student, pruned = run_structured(teacher, cfg, data, targets)
    if width < 1 and not pruned["filters"]:
        reasons = "; ".join(f"{name}: {why}" for name, why in pruned["left_whole"].items()) or "no conv/dense layer"
        raise UsageError(f"student: auto cannot narrow {teacher.name}: no layer can lose filters ({reasons}). "
                         "Name a student instead (a zoo name or a model file).")
    student._name = f"{teacher.name}_width{width:g}"  # tf-keras: the name the report and the files show
    return student, {
        "width": width,
        "teacher_params": int(teacher.count_params()), "student_params": int(student.count_params()),
        "filters": pruned["filters"], "left_whole": pruned["left_whole"], "skipped_layers": skipped,
        "groups": pruned["groups"],
        "initialised_from": "the teacher's filters with the largest L1 norm",
    }
