"""The `distill` stage's settings, the METHODS registry and helpers the methods share.

One config model serves every method; each method declares which settings it uses and its own
defaults, so a setting given to a method that ignores it is an error, not silently dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from edgecomp.config import Strict
from edgecomp.errors import UsageError
from edgecomp.registry import Registry

# Settings every method uses; the others belong to the methods that list them.
COMMON_SETTINGS = frozenset({"stage", "method", "temperature", "alpha", "epochs", "batch_size", "learning_rate"})


@dataclass(frozen=True)
class DistillMethod:
    """A distillation method: what it runs, what it checks first and which settings it takes.

    Attributes:
        run: (ctx, cfg) -> info dict; replaces `ctx.model` with the distilled model.
        check: (ctx, cfg) -> None; raises a typed error before any training.
        settings: setting names beyond COMMON_SETTINGS that the method uses.
        defaults: values for settings the user left unset (temperature, alpha, ...).
        description: one line for docs and reports.
    """

    run: Callable[[Any, DistillConfig], dict]
    check: Callable[[Any, DistillConfig], None]
    settings: frozenset = frozenset()
    defaults: dict = field(default_factory=dict)
    description: str = ""


METHODS: Registry[DistillMethod] = Registry("distillation method")


class DistillConfig(Strict):
    """Settings of the `distill` stage (see each method for the ones it takes)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    stage: str = "distill"
    method: str = "kd"
    temperature: float | None = Field(None, gt=0, description="softening temperature T; None: method default")
    alpha: float | None = Field(None, ge=0, le=1, description="weight of the distillation term; None: method default")
    epochs: int = Field(5, gt=0)
    batch_size: int = Field(128, ge=2)
    learning_rate: float = Field(2e-3, gt=0)
    # kd / takd
    student: str = Field("cnn-student", description="zoo name or model file of the student")
    assistants: list[str] | None = Field(None, description="takd: zoo names, largest first")
    teacher_logits: Literal["cached", "on_the_fly"] = "cached"
    # byot
    exits: list[str] | None = Field(None, description="byot: layer names after which a shallow exit is attached")
    exit: int | None = Field(None, ge=1, description="byot: keep the network truncated at this exit (1 = shallowest)")
    hint_weight: float | None = Field(None, ge=0, alias="lambda", description="byot: lambda, weight of the L2 hint")
    # byot / dlb: these train the plan's model itself
    reinitialize: bool = Field(False, description="byot/dlb: start from fresh weights instead of ctx.model's")

    @model_validator(mode="after")
    def _method_and_settings(self) -> DistillConfig:
        method = METHODS.get(self.method)  # UsageError with a did-you-mean on a typo
        given = set(self.model_fields_set) - COMMON_SETTINGS
        unused = sorted(given - method.settings)
        if unused:
            allowed = sorted(COMMON_SETTINGS - {"stage", "method"} | method.settings)
            shown = ["lambda" if name == "hint_weight" else name for name in unused]
            raise ValueError(f"method {self.method!r} does not use {', '.join(shown)}; "
                             f"its settings are {', '.join(allowed)}")
        return self

    def resolved(self) -> DistillConfig:
        """A copy with the method's defaults filled in for the settings left unset."""
        method = METHODS.get(self.method)
        updates = {key: value for key, value in method.defaults.items() if getattr(self, key) is None}
        return self.model_copy(update=updates)

    def used_settings(self) -> dict:
        """The settings this method actually used, for the report."""
        method = METHODS.get(self.method)
        keep = (COMMON_SETTINGS - {"stage"}) | method.settings
        return {key: value for key, value in self.model_dump().items() if key in keep}


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
    from edgecomp.compress.train import check_model_fits_data, is_model_file
    from edgecomp.models.load import load_user_model
    from edgecomp.models.zoo import ZOO, build_zoo_model

    if is_model_file(name):
        model = load_user_model(name)
    else:
        ZOO.get(name)  # UsageError with a did-you-mean
        model = build_zoo_model(name, data.input_shape, data.num_classes)
    check_model_fits_data(model, data)
    return model


def compile_wrapper(wrapper, learning_rate: float, total_steps: int) -> None:
    """Adam with cosine decay, as `train.compile_for_training`; the wrapper computes its own loss."""
    from edgecomp.compress.train import cosine_adam

    wrapper.compile(optimizer=cosine_adam(learning_rate, total_steps))


def fit_wrapper(wrapper, x, y, data, epochs: int, batch_size: int, learning_rate: float, label: str,
                steps_per_epoch: int | None = None, callbacks: list | None = None) -> dict:
    """Compiles and fits a training wrapper (its own train_step), validating on the val split.

    Args:
        wrapper: a keras.Model whose train_step/test_step compute the method's loss.
        x, y: training inputs and targets (arrays), or `x` a keras Sequence and `y` None.
        data: the Dataset (for validation).
        steps_per_epoch: optimizer steps per epoch, when `x` is a Sequence.

    Returns:
        Epochs, seconds per epoch and the per-epoch history.
    """
    from edgecomp.compress.train import fit_summary
    from edgecomp.progress import keras_progress_callback

    steps = steps_per_epoch or -(-len(x) // batch_size)
    compile_wrapper(wrapper, learning_rate, epochs * steps)
    fit_args = {"batch_size": batch_size, "shuffle": True} if y is not None else {"shuffle": False}
    started = time.perf_counter()
    history = wrapper.fit(
        x, y, epochs=epochs, validation_data=(data.x_val, data.y_val), verbose=0,
        callbacks=[keras_progress_callback(epochs, steps, label)] + list(callbacks or []), **fit_args,
    )
    return fit_summary(history, time.perf_counter() - started, epochs)
