"""Typed plans, loaded from YAML with unknown keys rejected.

A plan is the whole recipe of a build: model, dataset, ordered compression stages, export and
benchmark settings. Every stage's settings are checked here, when the plan is read (see
`edgecomp.plan.stage_settings`), without importing any stage. The resolved plan (every default filled
in) is written into each report.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Literal, Optional, Union

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from edgecomp.core.durations import parse_duration
from edgecomp.core.errors import ConfigError
from edgecomp.core.settings import Strict, format_validation_error
from edgecomp.data.normalization import check_uint8_io, parse_normalization
from edgecomp.plan.precisions import PRECISIONS
from edgecomp.plan.search_space import SearchSpace
from edgecomp.plan.stage_settings import StageSettings, check_stage_names


def is_model_file(name: str) -> bool:
    """A plan's `model` is a file or folder path when it looks like one, else a zoo name."""
    return "/" in name or name.endswith((".keras", ".h5", ".hdf5")) or Path(name).exists()

def default_stages(model: str) -> list[dict]:
    """The default plan's stages for `model`. The zoo teacher is distilled into the zoo's
    cnn-assistant; a user's model file into a narrower copy of its own architecture (the
    distill stage's `student` left unset means `auto` for a file, see DistillConfig)."""
    stages = copy.deepcopy(DEFAULT_STAGES)
    if is_model_file(model):
        for stage in stages:
            if stage["stage"] == "distill":
                del stage["student"]
    return stages

class DatasetConfig(Strict):
    name: str = "fashion_mnist"
    val_fraction: float = Field(0.1, gt=0, lt=1)
    train_limit: Optional[int] = Field(None, gt=0)
    test_limit: Optional[int] = Field(None, gt=0)
    # How uint8 pixels become the model's input (edgecomp.data.normalization): unit | symmetric |
    # imagenet | raw | {scale, offset} (scalars or one per channel).
    normalization: Union[str, dict] = "unit"
    # Image folders: resize to [H, W] and convert to 1 or 3 channels; unset: the model's input.
    size: Optional[tuple[int, int]] = None
    channels: Optional[Literal[1, 3]] = None
    # Image folders: the class sub-folders in the model's output order; unset: alphabetical.
    classes: Optional[list[str]] = Field(None, min_length=2)

    @field_validator("normalization")
    @classmethod
    def _known_normalization(cls, value):
        parse_normalization(value)  # ValueError with the reason; the plan keeps what the user wrote
        return value

    @field_validator("size")
    @classmethod
    def _positive_size(cls, value):
        if value is not None and min(value) < 1:
            raise ValueError(f"size must be [height, width] in pixels, both >= 1; got {list(value)}")
        return value

    def normalization_record(self):
        return parse_normalization(self.normalization)

class ExportConfig(Strict):
    formats: list[Literal["tflite", "onnx"]] = ["tflite", "onnx"]
    onnx_opset: int = Field(13, ge=9)
    parity_samples: int = Field(500, gt=0)
    # The floor: the PTQ int8 .tflite of the model as trained or loaded, the safe option the
    # chain's files must beat to be recommended. Unset: on for a user's model file whose plan has
    # stages that change the model (see Plan._floor_for_a_model_file).
    floor: Optional[bool] = None

class BenchConfig(Strict):
    threads: int = Field(1, gt=0)
    warmup: int = Field(20, ge=0)
    min_runs: int = Field(200, gt=0)
    min_time_s: float = Field(2.0, ge=0)
    max_runs: int = Field(20000, gt=0)
    accuracy_samples: Optional[int] = Field(None, gt=0, description="test images; None means all")
    timeout_s: float = Field(600, gt=0)
    op_profile: bool = Field(False, description="per-op times from benchmark_model's op profiler, where the "
                                                "target runs benchmark_model (adb)")

# The default plan: the study's best chain. Train (or load) the teacher, distil it into a
# smaller student, prune that globally, then quantization-aware training to int8. The epochs
# come from the plan's preset. `benchmarks/default_chain/` measures it against the PTQ-only plan
# (PTQ_ONLY_STAGES).
DEFAULT_STAGES = [
    {"stage": "train"},
    {"stage": "distill", "method": "kd", "student": "cnn-assistant"},
    {"stage": "prune", "method": "global", "sparsity": 0.5},
    {"stage": "qat"},
]

# A preset fills the stage settings a plan leaves unset. `fast` is the stage defaults: a budget for
# demos and tests. `quality` is the patient schedule: 3x the distillation epochs, then longer
# fine-tuning after pruning and QAT, on the labels: with `teacher_kd` (the KD loss against the
# train stage's model) the same chain ended 0.24 pt lower (benchmarks/default_chain). It adds no
# augmentation: on Fashion-MNIST, shift + mixup with the teacher on the fly (Beyer et al. 2022's
# function matching) lost to plain training at 24 epochs (benchmarks/distillation,
# benchmarks/default_chain). A plan turns it on per stage with
# `augment:`, and `teacher_logits` then defaults to on_the_fly. The teacher's own training is the
# user's choice and is left alone.
#
# Each preset also names a budget of optimizer steps per training stage (`min_steps`), so a small
# dataset is not trained for a tenth of what Fashion-MNIST gets: on full Fashion-MNIST (380 steps
# per epoch at batch 128) the epochs already exceed it and nothing changes; a 2,000-image folder
# (15 steps per epoch) gets its epochs raised to reach it (edgecomp.run.schedule). The budgets are
# the Fashion-MNIST schedules' order of magnitude, not yet measured on small datasets.
PRESETS: dict[str, dict[str, dict]] = {
    "fast": {"distill": {"min_steps": 1000}, "prune": {"min_steps": 250}, "qat": {"min_steps": 250}},
    "quality": {"distill": {"epochs": 24, "min_steps": 3000}, "prune": {"epochs": 6, "min_steps": 750},
                "qat": {"epochs": 4, "min_steps": 500}},
}


def apply_preset(stage: StageSettings, preset: str) -> StageSettings:
    """`stage` with the preset's settings filled in where the plan left them unset. A plan that sets
    a stage's epochs gets no step budget: its epochs are what runs."""
    given = stage.model_fields_set
    settings = {key: value for key, value in PRESETS[preset].get(stage.stage, {}).items()
                if key not in given and not (key == "min_steps" and "epochs" in given)}
    return stage.model_copy(update=settings) if settings else stage

# Stages that leave the model as trained or loaded (the quantize stage only picks converter modes).
FLOOR_NEEDLESS_STAGES = ("train", "quantize")
PTQ_ONLY_STAGES = [{"stage": "train"}, {"stage": "quantize", "modes": ["int8"]}]


class Plan(Strict):
    name: str = "build"
    model: str = "cnn-teacher"
    preset: Literal["fast", "quality"] = "fast"  # fills unset stage settings: see PRESETS
    dataset: DatasetConfig = DatasetConfig()
    seed: int = 0
    # stop: a model the sanity checks find meaningless (near chance, its own 0..255 scaling fed
    # other pixels, another class order) stops the build before compression, exit 2; warn: go on.
    sanity: Literal["stop", "warn"] = "stop"
    # The training stages' time, in seconds or as "20m", "1h30m", "90s" (edgecomp.core.durations): each training
    # stage gets a share of the time left and runs fewer epochs when the step time measured in its first
    # steps says its schedule would overrun it (edgecomp.compress.time_budget). Unset: no limit.
    time_budget: Optional[float] = Field(None, gt=0)
    # Each entry is {"stage": NAME, ...settings}, validated by that stage's settings model.
    # Unset: default_stages(model) (the factory sees the fields validated before it).
    stages: list[StageSettings] = Field(
        default_factory=lambda fields: default_stages(str(fields.get("model", "cnn-teacher"))),
        validate_default=True)
    export: ExportConfig = ExportConfig()
    bench: BenchConfig = BenchConfig()
    # What `edgecomp search` varies (edgecomp.plan.search_space); `build` ignores it.
    search: Optional[SearchSpace] = None

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value):
        return None if value is None else parse_duration(value)

    @field_validator("stages", mode="before")
    @classmethod
    def _stage_names(cls, stages):
        return check_stage_names(stages)

    @model_validator(mode="after")
    def _user_model_loaded_as_is(self) -> "Plan":
        """A user's model file is trained already: its train stage loads it as is (epochs 0) unless
        the plan sets epochs, whether the plan came from a file or from command-line flags."""
        if is_model_file(self.model):
            self.stages = [stage.model_copy(update={"epochs": 0})
                           if stage.stage == "train" and "epochs" not in stage.model_fields_set else stage
                           for stage in self.stages]
        return self

    @model_validator(mode="after")
    def _floor_for_a_model_file(self) -> "Plan":
        """A user's model is already usable: its PTQ int8 is the floor the chain must beat. Exported
        when the plan has stages that change the model (with train and quantize only, the plan's own
        int8 file is that floor) and TFLite is exported."""
        if self.export.floor is None:
            changes_model = any(stage.stage not in FLOOR_NEEDLESS_STAGES for stage in self.stages)
            self.export.floor = is_model_file(self.model) and changes_model and "tflite" in self.export.formats
        elif self.export.floor and "tflite" not in self.export.formats:
            raise ValueError("export.floor is a .tflite file (PTQ int8) and export.formats has no tflite; "
                             "add tflite to formats or drop floor")
        return self

    @model_validator(mode="after")
    def _fill_preset(self) -> "Plan":
        self.stages = [apply_preset(stage, self.preset) for stage in self.stages]
        return self

    @model_validator(mode="after")
    def _uint8_io_means_raw_pixels(self) -> "Plan":
        modes = [mode for stage in self.stages for mode in getattr(stage, "modes", None) or []]
        if any(PRECISIONS.get(mode).raw_pixel_input for mode in modes):
            check_uint8_io(self.dataset.normalization_record())
        return self

def load_yaml(path: Path) -> dict:
    """Reads a YAML mapping with `yaml.safe_load` (no Python objects from a config file)."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, not a {type(data).__name__}.")
    return data

def parse_plan(data: dict, source: str = "plan") -> Plan:
    try:
        return Plan.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, Plan, source)) from err

def load_plan(path: Path) -> Plan:
    return parse_plan(load_yaml(path), source=f"plan {path}")
