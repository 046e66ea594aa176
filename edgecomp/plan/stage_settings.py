"""The settings of every compression stage, checked in full when a plan is read.

Each stage's pydantic model says which settings it takes and, for stages with methods, which
method uses which setting, so a plan with a bad or misplaced setting fails before anything
trains. Only pydantic and `edgecomp.core.settings` are imported here: reading a plan never loads a
stage implementation or TensorFlow. The implementations (`edgecomp.compress`) take these models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional

from pydantic import ConfigDict, Field, field_validator, model_validator

from edgecomp.core.settings import Strict, did_you_mean
from edgecomp.data.augment import AugmentConfig
from edgecomp.plan.precisions import OVERRIDE_PRECISIONS, PRECISIONS, QUANTIZE_MODES


def _unused(given: set[str], allowed: frozenset, what: str) -> None:
    """A setting given to a method (or mode) that does not use it is an error, never dropped."""
    unused = sorted(given - allowed - {"stage"})
    if unused:
        shown = sorted(allowed - {"stage"})
        raise ValueError(f"{what} does not use {', '.join(unused)}; its settings are {', '.join(shown)}")


# A training stage's schedule is sized by optimizer steps, not epochs alone: 8 epochs are 3,400
# steps on Fashion-MNIST and 136 on a 2,160-image folder. The presets fill `min_steps` where the
# plan sets no epochs (edgecomp.plan.plan.PRESETS); edgecomp.run.schedule raises the epochs to reach it.
# On small data the last epoch is often not the best (a few hundred validation images, long step
# budgets): the fit keeps the weights of its best epoch on validation (edgecomp.compress.fitting).
RESTORE_BEST_DESCRIPTION = ("keep the weights of the epoch with the best validation accuracy, not the last epoch's "
                            "(pruning: among the epochs at the target sparsity); the stage record names the epoch")
MIN_STEPS_DESCRIPTION = ("at least this many optimizer steps: the epochs are raised to reach it on a small dataset "
                         "(the stage record says so); unset: the preset's budget when the plan sets no epochs")

# ----------------------------------------------------------------------------- train


class TrainConfig(Strict):
    """Train the plan's model from scratch (zoo model) or fine-tune it (user model, epochs > 0)."""

    stage: Literal["train"] = "train"
    epochs: int = Field(10, ge=0)
    batch_size: int = Field(128, gt=0)
    learning_rate: float = Field(2e-3, gt=0)
    cache: bool = True  # false: this stage and every later one run anew, never from the stage cache
    augment: AugmentConfig = AugmentConfig()


# ----------------------------------------------------------------------------- distill


@dataclass(frozen=True)
class DistillMethodSettings:
    """What a distillation method takes: settings beyond the common ones, and its own defaults."""

    settings: frozenset
    defaults: dict = field(default_factory=dict)
    description: str = ""


# Settings every method uses; the others belong to the methods that list them.
DISTILL_COMMON_SETTINGS = frozenset({"stage", "method", "temperature", "alpha", "epochs", "min_steps", "batch_size",
                                     "learning_rate", "augment"})
# Methods whose loss needs integer labels of unmixed images.
MIXUP_UNSUPPORTED = {"byot": "its exits learn from the deepest exit's predictions on the same image",
                     "dlb": "its soft targets come from the previous batch's predictions on the same images"}
# The implementations register under the same names in edgecomp.compress.distill (a test checks).
DISTILL_METHODS = {
    "kd": DistillMethodSettings(
        frozenset({"student", "width", "max_drop", "teacher_logits", "restore_best"}),
        {"temperature": 4.0, "alpha": 0.9},
        "Hinton et al. 2015: student on (1-a)*CE + a*T^2*KL(teacher_T || student_T)"),
    "takd": DistillMethodSettings(
        frozenset({"student", "assistants", "teacher_logits", "restore_best"}), {"temperature": 4.0, "alpha": 0.9},
        "Mirzadeh et al. 2020: teacher -> assistant(s) -> student, each step plain KD"),
    # The authors' code: KD weight 0.3, feature weight 0.03, T = 3.
    "byot": DistillMethodSettings(
        frozenset({"exits", "exit", "hint_weight", "attention", "reinitialize"}),
        {"temperature": 3.0, "alpha": 0.3, "hint_weight": 0.03, "attention": True},
        "Zhang et al. 2019: attention-based shallow exits learn from the deepest one (CE + KL + L2 hint)"),
    # The paper's CIFAR setting: T = 3, alpha = 1.
    "dlb": DistillMethodSettings(
        frozenset({"reinitialize"}), {"temperature": 3.0, "alpha": 1.0},
        "Shen et al. 2022: CE + a*T^2*KL(last batch's soft predictions || current) on the repeated half"),
}


AUTO_STUDENT = "auto"
AUTO_STUDENT_WIDTH = 0.5
# width: auto probes these, wide to narrow (edgecomp.compress.distill.auto_width).
AUTO_WIDTHS = (0.75, 0.5, 0.35, 0.25)


class DistillConfig(Strict):
    """Settings of the `distill` stage (see DISTILL_METHODS for the ones each method takes)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    stage: Literal["distill"] = "distill"
    method: str = "kd"
    temperature: float | None = Field(None, gt=0, description="softening temperature T; None: method default")
    alpha: float | None = Field(None, ge=0, le=1, description="weight of the distillation term; None: method default")
    epochs: int = Field(8, gt=0)
    min_steps: int | None = Field(None, gt=0, description=MIN_STEPS_DESCRIPTION)
    batch_size: int = Field(128, ge=2)
    learning_rate: float = Field(2e-3, gt=0)
    # kd / takd
    student: str | None = Field(
        None, description="auto (kd: the teacher's own architecture made narrower), a zoo name or a model file; "
                          "unset: auto when the plan's model is a file, else cnn-student")
    width: float | Literal["auto"] | None = Field(
        None, description="student auto: fraction of each layer's filters and units kept, in (0, 1] (default "
                          "0.5), or auto: the narrowest of AUTO_WIDTHS whose short probe stays within max_drop of "
                          "the teacher")
    max_drop: float = Field(1.0, ge=0, description="width auto: validation accuracy points a width may lose against "
                                                   "the teacher and still be chosen")
    assistants: list[str] | None = Field(None, description="takd: zoo names, largest first")
    # None: on_the_fly when augmentation is on (the teacher sees the student's augmented view:
    # function matching, Beyer et al. 2022), else cached (computed once, the same loss, faster).
    teacher_logits: Literal["cached", "on_the_fly"] | None = None
    restore_best: bool = Field(True, description="kd / takd: " + RESTORE_BEST_DESCRIPTION)
    augment: AugmentConfig = AugmentConfig()
    # byot
    exits: list[str] | None = Field(None, description="byot: layer names after which a shallow exit is attached")
    exit: int | None = Field(None, ge=1, description="byot: keep the network truncated at this exit (1 = shallowest)")
    hint_weight: float | None = Field(None, ge=0, alias="lambda", description="byot: lambda, weight of the L2 hint")
    attention: bool | None = Field(None, description="byot: an attention module before each exit's bottleneck "
                                                     "(the paper's; None: on)")
    # byot / dlb: these train the plan's model itself
    reinitialize: bool = Field(False, description="byot/dlb: start from fresh weights instead of ctx.model's")

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method not in DISTILL_METHODS:
            raise ValueError(did_you_mean("distillation method", method, DISTILL_METHODS))
        return method

    @model_validator(mode="after")
    def _method_and_settings(self) -> DistillConfig:
        def yaml_names(names) -> frozenset:  # hint_weight is written `lambda` in a plan
            return frozenset("lambda" if name == "hint_weight" else name for name in names)

        allowed = DISTILL_COMMON_SETTINGS | DISTILL_METHODS[self.method].settings
        _unused(yaml_names(self.model_fields_set), yaml_names(allowed), f"method {self.method!r}")
        if isinstance(self.width, float) and not 0 < self.width <= 1:
            raise ValueError(f"width {self.width:g} is a fraction of each layer's filters: give one in (0, 1], or auto")
        if "max_drop" in self.model_fields_set and self.width != "auto":
            raise ValueError("max_drop bounds the accuracy a `width: auto` student may lose; set width: auto, "
                             "or drop max_drop")
        if self.width is not None and self.student not in (None, AUTO_STUDENT):
            raise ValueError(f"width narrows the teacher into an automatic student; student {self.student!r} is "
                             "given, so drop width or use student: auto")
        if self.method == "takd" and self.student == AUTO_STUDENT:
            raise ValueError("student: auto is for method kd (one step from the teacher's own architecture); "
                             "takd's chain needs a zoo name or a model file")
        if self.assistants is not None and not self.assistants:
            raise ValueError("takd needs at least one assistant; leave `assistants` unset for cnn-assistant, "
                             "or use method: kd for a direct teacher -> student step")
        if self.exits is not None and not self.exits:
            raise ValueError("byot needs at least one exit: leave `exits` unset for the defaults or list layer names")
        if self.exits and self.exit is not None and self.exit > len(self.exits):
            raise ValueError(f"exit {self.exit} is out of range: exits lists {len(self.exits)} layer(s); "
                             f"use exit: 1..{len(self.exits)}, or leave it unset for the full network")
        if self.augment.mixup > 0 and self.method in MIXUP_UNSUPPORTED:
            raise ValueError(f"method {self.method!r} does not support mixup ({MIXUP_UNSUPPORTED[self.method]}); "
                             "use flip/shift, or method kd or takd")
        return self

    def resolved(self, model_is_file: bool = False) -> DistillConfig:
        """A copy with the method's defaults filled in for the settings left unset.

        Args:
            model_is_file: the plan's model is a user's file, whose unset kd student is `auto`
                (its own architecture, narrower) rather than the zoo's cnn-student.
        """
        defaults = DISTILL_METHODS[self.method].defaults
        updates = {key: value for key, value in defaults.items() if getattr(self, key) is None}
        if "student" in DISTILL_METHODS[self.method].settings and self.student is None:
            # A width narrows the teacher: it asks for the automatic student, whatever the teacher.
            auto = self.method == "kd" and (model_is_file or self.width is not None)
            updates["student"] = AUTO_STUDENT if auto else "cnn-student"
        if updates.get("student", self.student) == AUTO_STUDENT and self.width is None:
            updates["width"] = AUTO_STUDENT_WIDTH
        if self.teacher_logits is None:
            updates["teacher_logits"] = "on_the_fly" if self.augment.enabled else "cached"
        return self.model_copy(update=updates)

    def used_settings(self) -> dict:
        """The settings this method actually used, for the report."""
        keep = (DISTILL_COMMON_SETTINGS - {"stage"}) | DISTILL_METHODS[self.method].settings
        return {key: value for key, value in self.model_dump().items() if key in keep}


# ----------------------------------------------------------------------------- prune


PRUNE_COMMON_SETTINGS = frozenset({"stage", "method", "skip_layers", "epochs", "min_steps", "batch_size",
                                   "learning_rate", "augment", "teacher_kd", "restore_best"})
# Fine-tuning after pruning, and QAT, can learn from the plan's trained model (the train stage's
# output) with the KD loss instead of from the labels alone: the compressed model is pulled back
# towards the outputs it is meant to keep (Polino et al. 2018, Mishra & Marr 2018: distillation
# during quantized training). The loss is kd's, at kd's default T and alpha.
TEACHER_KD_DESCRIPTION = ("fine-tune on the KD loss against the train stage's model (T and alpha of method kd) "
                          "instead of on the labels alone")
_UNSTRUCTURED = PRUNE_COMMON_SETTINGS | {"sparsity", "schedule"}
# Method -> the settings it takes (description). The implementations register under the same
# names in edgecomp.compress.prune (a test checks).
PRUNE_METHODS = {
    "local": (_UNSTRUCTURED | {"layer_sparsity"}, "same sparsity in every layer (or a map)"),
    "global": (_UNSTRUCTURED | {"max_layer_sparsity"}, "one magnitude ranking over the whole model"),
    "2:4": (PRUNE_COMMON_SETTINGS | {"schedule"}, "2 zeros in every 4 weights (N:M sparse kernels)"),
    "structured": (PRUNE_COMMON_SETTINGS | {"sparsity", "layer_sparsity", "scope", "criterion"},
                   "remove whole conv filters / dense units; a smaller, faster model"),
}


class PruneConfig(Strict):
    """Settings of the `prune` stage. `sparsity` is the fraction of weights set to zero (local,
    global) or the fraction of filters/units removed from each layer (structured)."""

    stage: Literal["prune"] = "prune"
    method: str = "local"
    sparsity: float = Field(0.5, ge=0, lt=1)
    layer_sparsity: dict[str, float] = Field(default_factory=dict, description="per-layer overrides")
    skip_layers: list[str] | None = Field(None, description="None: first conv and last classifier")
    schedule: Literal["polynomial", "constant"] = "polynomial"
    scope: Literal["conv", "dense", "both"] = "both"
    criterion: Literal["l1", "l2"] = "l1"
    max_layer_sparsity: float = Field(0.95, gt=0, lt=1, description="global: no layer loses more than this")
    epochs: int = Field(2, ge=0, description="fine-tuning epochs; 0 prunes one-shot without training")
    min_steps: int | None = Field(None, gt=0, description=MIN_STEPS_DESCRIPTION)
    batch_size: int = Field(128, gt=0)
    learning_rate: float = Field(5e-4, gt=0)
    augment: AugmentConfig = AugmentConfig()
    teacher_kd: bool = Field(False, description=TEACHER_KD_DESCRIPTION)
    restore_best: bool = Field(True, description=RESTORE_BEST_DESCRIPTION)

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method not in PRUNE_METHODS:
            raise ValueError(did_you_mean("pruning method", method, PRUNE_METHODS))
        return method

    @field_validator("layer_sparsity")
    @classmethod
    def _fractions(cls, mapping: dict[str, float]) -> dict[str, float]:
        bad = {name: value for name, value in mapping.items() if not 0 <= value < 1}
        if bad:
            raise ValueError(f"layer_sparsity values must be in [0, 1) (1 would remove the whole layer); got {bad}")
        return mapping

    @model_validator(mode="after")
    def _method_and_settings(self) -> PruneConfig:
        _unused(set(self.model_fields_set), PRUNE_METHODS[self.method][0], f"pruning method {self.method!r}")
        if self.method == "global" and self.sparsity > self.max_layer_sparsity:
            raise ValueError(f"global sparsity {self.sparsity} is above max_layer_sparsity "
                             f"{self.max_layer_sparsity}; raise max_layer_sparsity or lower sparsity")
        if self.teacher_kd and self.epochs == 0:
            raise ValueError("teacher_kd guides fine-tuning, and epochs is 0 (one-shot, no training); "
                             "set epochs >= 1 or drop teacher_kd")
        clash = sorted(set(self.skip_layers or ()) & set(self.layer_sparsity))
        if clash:
            raise ValueError(f"layer(s) {', '.join(clash)} are in skip_layers and layer_sparsity; pick one")
        return self


# ----------------------------------------------------------------------------- quantize


# The recipes a quantize stage may list (edgecomp.plan.precisions), those that calibrate on training
# images, and the int8 ones whose accuracy drop is debugged layer by layer: read from the recipes.
PtqMode = Literal[QUANTIZE_MODES]  # type: ignore[valid-type]
QUANTIZER_MODES = tuple(mode for mode in QUANTIZE_MODES if PRECISIONS.get(mode).kind.startswith("edge_quantizer"))
CALIBRATED_MODES = frozenset(mode for mode in QUANTIZE_MODES if PRECISIONS.get(mode).calibrates)
DEBUGGED_MODES = frozenset(mode for mode in QUANTIZE_MODES if PRECISIONS.get(mode).debug_accuracy)


def override_problem(precision: str, layers: Optional[str], ops) -> Optional[str]:
    """What is wrong with a quantizer override (None when nothing): its precision, one selector, a valid regex."""
    if precision not in OVERRIDE_PRECISIONS:
        return f"override precision {precision!r} is not one of {', '.join(OVERRIDE_PRECISIONS)}"
    if (layers is None) == (not ops):
        return ("an override names either `layers` (a regex on layer names) or `ops` (op types), "
                f"not {'both' if layers is not None else 'neither'}")
    if layers is not None:
        try:
            re.compile(layers)
        except re.error as err:
            return f"override layers {layers!r} is not a valid regex: {err}"
    return None


class QuantizerOverride(Strict):
    """One per-layer override of the AI Edge Quantizer recipes (a8w8, a16w8, w4, dynamic_w4, auto):
    the layers whose name matches `layers` (a regex), or the ops of the types in `ops` (TFLite names such as
    FULLY_CONNECTED), get `precision` (later overrides win)."""

    precision: Literal[OVERRIDE_PRECISIONS]  # type: ignore[valid-type]
    layers: Optional[str] = None
    ops: Optional[list[str]] = None

    @model_validator(mode="after")
    def _one_selector(self) -> QuantizerOverride:
        problem = override_problem(self.precision, self.layers, self.ops)
        if problem:
            raise ValueError(problem)
        return self


class QuantizeConfig(Strict):
    """PTQ modes (recipes of edgecomp.plan.precisions) and the int8 debugging settings."""

    stage: Literal["quantize"] = "quantize"
    modes: list[PtqMode] = ["int8"]
    calibration_samples: int = Field(500, gt=0)
    # When an int8 artifact loses more than this many accuracy points (on the parity images),
    # the report lists the layers with the largest quantization error.
    debug_drop_points: float = Field(1.0, ge=0)
    debug_top_layers: int = Field(5, gt=0)
    # > 0: also export `int8_mixed`, int8 with this many worst-quantized layers kept float.
    float_fallback_layers: int = Field(0, ge=0)
    # The AI Edge Quantizer recipes: per-layer overrides, and for `auto` the accuracy points (validation
    # split) it may lose against float32 before it raises more layers to 16 bits.
    overrides: list[QuantizerOverride] = []
    max_drop: float = Field(0.5, ge=0)

    @field_validator("modes", mode="before")
    @classmethod
    def _known_modes(cls, modes):
        for mode in modes if isinstance(modes, list) else []:
            if isinstance(mode, str) and mode not in QUANTIZE_MODES:
                if mode in PRECISIONS:  # qat_int8, int8_mixed, float32: made otherwise
                    raise ValueError(f"{mode!r} ({PRECISIONS.get(mode).description}) is not a quantize mode; "
                                     f"modes are {', '.join(QUANTIZE_MODES)}")
                raise ValueError(did_you_mean("quantize mode", mode, QUANTIZE_MODES))
        return modes

    @model_validator(mode="after")
    def _modes_and_settings(self) -> QuantizeConfig:
        repeated = sorted({mode for mode in self.modes if self.modes.count(mode) > 1})
        if repeated:
            raise ValueError(f"modes lists {', '.join(repeated)} more than once; list each mode once")
        if not self.modes and not self.float_fallback_layers:
            raise ValueError("modes is empty and float_fallback_layers is 0: the stage would export nothing; "
                             "list modes (e.g. [int8]) or drop the stage")
        given = set(self.model_fields_set)
        calibrates = bool(CALIBRATED_MODES & set(self.modes)) or self.float_fallback_layers > 0
        if "calibration_samples" in given and not calibrates:
            raise ValueError(f"calibration_samples is unused: none of modes [{', '.join(self.modes)}] calibrates "
                             f"(only {', '.join(sorted(CALIBRATED_MODES))} and float_fallback_layers do); drop it")
        if self.overrides and not set(QUANTIZER_MODES) & set(self.modes):
            raise ValueError(f"overrides apply to the AI Edge Quantizer modes ({', '.join(QUANTIZER_MODES)}) and "
                             f"modes is [{', '.join(self.modes)}]; add one or drop overrides")
        if "max_drop" in given and "auto" not in self.modes:
            raise ValueError("max_drop is auto's accuracy budget and modes has no auto; add auto or drop max_drop")
        debugged = sorted(given & {"debug_drop_points", "debug_top_layers"})
        if debugged and not DEBUGGED_MODES & set(self.modes):
            raise ValueError(f"{', '.join(debugged)} unused: int8 debugging runs for modes "
                             f"{', '.join(sorted(DEBUGGED_MODES))} only, and modes is [{', '.join(self.modes)}]")
        return self


# ----------------------------------------------------------------------------- qat


class QatConfig(Strict):
    """Quantization-aware fine-tuning of the current model (short, at a low learning rate)."""

    stage: Literal["qat"] = "qat"
    epochs: int = Field(2, ge=1)
    min_steps: int | None = Field(None, gt=0, description=MIN_STEPS_DESCRIPTION)
    batch_size: int = Field(128, gt=0)
    learning_rate: float = Field(1e-4, gt=0)
    augment: AugmentConfig = AugmentConfig()
    teacher_kd: bool = Field(False, description=TEACHER_KD_DESCRIPTION)
    restore_best: bool = Field(True, description=RESTORE_BEST_DESCRIPTION)


# ----------------------------------------------------------------------------- any stage

STAGE_SETTINGS = (TrainConfig, DistillConfig, PruneConfig, QuantizeConfig, QatConfig)
STAGE_NAMES = tuple(model.model_fields["stage"].default for model in STAGE_SETTINGS)
# One plan entry: the `stage` key picks the model that validates the rest.
StageSettings = Annotated[TrainConfig | DistillConfig | PruneConfig | QuantizeConfig | QatConfig,
                          Field(discriminator="stage")]


def check_stage_names(stages: Any) -> Any:
    """Before the union validates: a list of mappings, each naming a known stage (with a did-you-mean)."""
    if not isinstance(stages, list):
        raise ValueError("stages must be a list of {stage: NAME, ...} mappings")
    for entry in stages:
        if isinstance(entry, Strict):
            continue
        if not isinstance(entry, dict) or "stage" not in entry:
            raise ValueError(f"each stage needs a 'stage' key naming one of {', '.join(STAGE_NAMES)}; got {entry!r}")
        if entry["stage"] not in STAGE_NAMES:
            raise ValueError(did_you_mean("stage", str(entry["stage"]), STAGE_NAMES))
    return stages
