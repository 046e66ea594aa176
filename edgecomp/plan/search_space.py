"""The search space of `edgecomp search` (the plan's `search:` section) and the plan of one trial.

Pydantic and the standard library only: reading a plan with a `search:` section never imports
Ray, Optuna or TensorFlow. `sample_point` is Optuna's define-by-run space (a conditional one: the
QAT/PTQ choice exists only for int8, structured sparsity only for structured pruning...), and
`trial_plan` turns one sampled point into an ordinary Plan that `edgecomp.run.pipeline.run_build` runs.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from edgecomp.core.settings import Strict
from edgecomp.plan.precisions import QAT_PRECISION, QAT_REPLACES

# The post-training precisions a trial may export. The AI Edge Quantizer's recipes (a8w8, a16w8, w4,
# dynamic_w4: the `quantize` extra) are choices a plan may list; the default space keeps the converter's.
Precision = Literal["int8", "int8_io", "float16", "dynamic", "int16x8", "a8w8", "a16w8", "w4", "dynamic_w4"]
PruneChoice = Literal["none", "local", "global", "structured"]
# Methods that distil the teacher into another network; byot/dlb train the plan's model itself.
SEARCH_DISTILL_METHODS = ("kd", "takd")
AUTO_STUDENT = "auto"
# What Optuna samples (sample_point's suggest_* names); structured pruning's fraction is its own parameter.
PARAMETERS = ("student", "width", "distill_method", "temperature", "alpha", "prune", "sparsity",
              "structured_sparsity", "precision", "quantization")


class SearchSpace(Strict):
    """What `edgecomp search` may vary. Ranges are [low, high]; lists are the choices."""

    students: Optional[list[str]] = Field(
        None, description="zoo names, or [auto] for the teacher's own architecture made narrower by `widths`; "
                          "unset: [cnn-student, cnn-tiny] for a zoo teacher, [auto] for a model file")
    widths: tuple[float, float] = (0.25, 0.75)
    distill_methods: list[Literal["kd", "takd"]] = ["kd"]
    temperature: tuple[float, float] = (2.0, 8.0)
    alpha: tuple[float, float] = (0.5, 0.95)
    prune_methods: list[PruneChoice] = ["none", "global", "structured"]
    sparsity: tuple[float, float] = (0.3, 0.8)
    structured_sparsity: tuple[float, float] = (0.1, 0.5)
    precisions: list[Precision] = ["int8", "int8_io", "float16", "dynamic"]
    quantization: list[Literal["ptq", "qat"]] = ["ptq", "qat"]
    # The fidelity: distillation epochs of a trial that is never stopped early. ASHA judges a trial
    # first after `min_epochs` epochs and halves the field at each rung.
    epochs: int = Field(6, ge=1)
    min_epochs: int = Field(1, ge=1)
    prune_epochs: int = Field(1, ge=0)
    qat_epochs: int = Field(1, ge=1)
    # Off: every trial trains all its epochs (e.g. to time the same trials on 1 and 2 workers).
    early_stopping: bool = True
    # Points tried first, in order (Optuna's enqueued trials), e.g. the default chain as a baseline:
    # {student: cnn-assistant, distill_method: kd, temperature: 4, alpha: 0.9, prune: global,
    #  sparsity: 0.5, precision: int8, quantization: qat}. Unlisted parameters are sampled.
    start_points: list[dict[str, Any]] = []

    @field_validator("widths", "temperature", "alpha", "sparsity", "structured_sparsity")
    @classmethod
    def _range(cls, value: tuple[float, float], info) -> tuple[float, float]:
        low, high = value
        if low > high:
            raise ValueError(f"{info.field_name} is [low, high]; got [{low}, {high}] (low above high)")
        limits = {"widths": (0, 1), "alpha": (0, 1), "sparsity": (0, 0.99), "structured_sparsity": (0, 0.99)}
        if info.field_name in limits:
            floor, ceiling = limits[info.field_name]
            if low <= floor or high > ceiling:
                raise ValueError(f"{info.field_name} must lie in ({floor}, {ceiling}]; got [{low}, {high}]")
        elif low <= 0:
            raise ValueError(f"{info.field_name} must be above 0; got [{low}, {high}]")
        return value

    @field_validator("students", "distill_methods", "prune_methods", "precisions", "quantization")
    @classmethod
    def _not_empty(cls, value, info):
        if value is not None and not value:
            raise ValueError(f"{info.field_name} is empty; list at least one choice or leave it unset")
        return value

    @field_validator("start_points")
    @classmethod
    def _known_parameters(cls, points: list[dict]) -> list[dict]:
        for point in points:
            unknown = sorted(set(point) - set(PARAMETERS))
            if unknown:
                raise ValueError(f"start point parameter(s) {', '.join(unknown)} unknown; parameters are "
                                 f"{', '.join(PARAMETERS)}")
        return points

    @model_validator(mode="after")
    def _consistent(self) -> SearchSpace:
        if self.min_epochs > self.epochs:
            raise ValueError(f"min_epochs {self.min_epochs} is above epochs {self.epochs}; lower min_epochs")
        if self.quantization == ["qat"] and QAT_REPLACES not in self.precisions:
            raise ValueError(f"quantization [qat] needs {QAT_REPLACES} in precisions (QAT exports {QAT_REPLACES} only)")
        return self

    def student_choices(self, model_is_file: bool) -> list[str]:
        """The students searched: the given list, else the default for a zoo teacher or a model file."""
        if self.students is not None:
            return self.students
        return [AUTO_STUDENT] if model_is_file else ["cnn-student", "cnn-tiny"]


def sample_point(trial: Any, space: SearchSpace, model_is_file: bool) -> dict:
    """Optuna's define-by-run space: samples one point, asking only the questions that apply.

    Args:
        trial: an `optuna.Trial` (its suggest_* methods).
        space: the search space.
        model_is_file: the plan's model is a user's file (student `auto` is allowed).

    Returns:
        The point, e.g. {"student": "cnn-tiny", "distill_method": "kd", "temperature": 4.1, ...}.
    """
    students = space.student_choices(model_is_file)
    point: dict = {"student": trial.suggest_categorical("student", students)}
    if point["student"] == AUTO_STUDENT:
        point["width"] = trial.suggest_float("width", *space.widths)
        point["distill_method"] = "kd"  # takd's chain needs zoo or file students
    else:
        point["distill_method"] = trial.suggest_categorical("distill_method", space.distill_methods)
    point["temperature"] = trial.suggest_float("temperature", *space.temperature)
    point["alpha"] = trial.suggest_float("alpha", *space.alpha)
    point["prune"] = trial.suggest_categorical("prune", space.prune_methods)
    if point["prune"] == "structured":
        point["sparsity"] = trial.suggest_float("structured_sparsity", *space.structured_sparsity)
    elif point["prune"] != "none":
        point["sparsity"] = trial.suggest_float("sparsity", *space.sparsity)
    point["precision"] = trial.suggest_categorical("precision", space.precisions)
    point["quantization"] = "ptq"  # QAT exports int8 only; other precisions are post-training
    if point["precision"] == QAT_REPLACES and "qat" in space.quantization:
        point["quantization"] = trial.suggest_categorical("quantization", space.quantization)
    return point


def is_start_point(config: dict, start_points: list[dict]) -> bool:
    """Whether a trial's sampled `config` is one of the start points (structured pruning's sparsity
    is sampled as `structured_sparsity`)."""

    def value(key: str):
        if key == "sparsity" and config.get("prune") == "structured":
            return config.get("structured_sparsity")
        return config.get(key)

    return any(all(value(key) == wanted for key, wanted in point.items()) for point in start_points)


def candidate_precision(point: dict) -> str:
    """The precision of the artifact a trial is judged on (the report's `precision` field)."""
    return QAT_PRECISION if point.get("quantization") == "qat" else point["precision"]


def trial_stages(point: dict, space: SearchSpace, train_stage: dict) -> list[dict]:
    """The stages of one trial: train (or load) the teacher, distil, prune, then QAT or PTQ."""
    distill = {"stage": "distill", "method": point["distill_method"], "student": point["student"],
               "temperature": round(point["temperature"], 4), "alpha": round(point["alpha"], 4),
               "epochs": space.epochs}
    if point["student"] == AUTO_STUDENT:
        distill["width"] = round(point["width"], 4)
    stages = [train_stage, distill]
    if point["prune"] != "none":
        stages.append({"stage": "prune", "method": point["prune"], "sparsity": round(point["sparsity"], 4),
                       "epochs": space.prune_epochs})
    if point["quantization"] == "qat":
        stages.append({"stage": "qat", "epochs": space.qat_epochs})
    else:
        stages.append({"stage": "quantize", "modes": [point["precision"]]})
    return stages


def max_epochs(space: SearchSpace) -> int:
    """Training epochs of the longest trial after its teacher: the fidelity's ceiling. A takd trial
    distils twice (teacher -> cnn-assistant -> student), and every epoch of both is reported."""
    distill_fits = 2 if "takd" in space.distill_methods else 1
    return distill_fits * space.epochs + space.prune_epochs + space.qat_epochs
