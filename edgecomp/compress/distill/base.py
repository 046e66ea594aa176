"""What the distillation methods share: the METHODS registry and the checks they run first.

The `distill` stage's settings (one model for every method, with the settings each method takes
and its defaults) live in `edgecomp.plan.stage_settings`, so a plan is checked without importing
this package; a method here registers its `run` and `check` under the name it has there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgecomp.core.errors import InternalError, UsageError
from edgecomp.core.registry import Registry
from edgecomp.models.load import check_model_fits_data, load_user_model
from edgecomp.models.zoo import ZOO, build_zoo_model
from edgecomp.plan.plan import is_model_file
from edgecomp.plan.stage_settings import DISTILL_METHODS, DistillConfig


@dataclass(frozen=True)
class DistillMethod:
    """A distillation method's code (its settings and defaults are DISTILL_METHODS[name]).

    Attributes:
        run: (ctx, cfg) -> info dict; replaces `ctx.model` with the distilled model.
        check: (ctx, cfg) -> None; raises a typed error before any training.
    """

    run: Callable[[Any, DistillConfig], dict]
    check: Callable[[Any, DistillConfig], None]


METHODS: Registry[DistillMethod] = Registry("distillation method")


def register(name: str, method: DistillMethod) -> None:
    """Registers a method under a name the settings know (a typo here is a bug, caught at import)."""
    if name not in DISTILL_METHODS:
        raise InternalError(f"distillation method {name!r} has no entry in edgecomp.plan.stage_settings.DISTILL_METHODS")
    METHODS.register(name)(method)


def check_compatible(student, teacher, what: str = "student") -> None:
    """Raises UsageError when `student` cannot learn from `teacher` (input shape or class count).

    Args:
        student: the model being trained.
        teacher: the model whose outputs it imitates.
        what: how the student is named in the message ("student", "assistant cnn-assistant").
    """
    if tuple(student.input_shape[1:]) != tuple(teacher.input_shape[1:]):
        raise UsageError(
            f"{what} {student.name} takes inputs of shape {tuple(student.input_shape[1:])} but the teacher "
            f"{teacher.name} takes {tuple(teacher.input_shape[1:])}; build the {what} for the same images.")
    if student.output_shape[-1] != teacher.output_shape[-1]:
        raise UsageError(
            f"{what} {student.name} outputs {student.output_shape[-1]} classes but the teacher {teacher.name} "
            f"outputs {teacher.output_shape[-1]}; both must predict the same classes.")


def check_outputs_logits(model, role: str) -> None:
    """Distillation softens logits: a softmax output layer would be softened twice."""
    activation = getattr(model.layers[-1], "activation", None)
    if getattr(activation, "__name__", "") == "softmax":
        raise UsageError(f"the {role} {model.name} ends in a softmax; distillation needs logits. "
                         "Remove the final softmax (edgecomp's zoo models output logits).")


def resolve_model(name: str, data):
    """A fresh zoo model (`name` in the zoo) or a user model file, checked against the dataset."""
    if is_model_file(name):
        model = load_user_model(name)
    else:
        ZOO.get(name)  # UsageError with a did-you-mean
        model = build_zoo_model(name, data.input_shape, data.num_classes)
    check_model_fits_data(model, data)
    return model
