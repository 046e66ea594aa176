"""Typed plans and target profiles, loaded from YAML with unknown keys rejected.

A plan is the whole recipe of a build: model, dataset, ordered compression stages, export and
benchmark settings. The resolved plan (every default filled in) is written into each report.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgecomp.errors import ConfigError


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class DatasetConfig(Strict):
    name: str = "fashion_mnist"
    val_fraction: float = Field(0.1, gt=0, lt=1)
    train_limit: Optional[int] = Field(None, gt=0)
    test_limit: Optional[int] = Field(None, gt=0)


class ExportConfig(Strict):
    formats: list[Literal["tflite", "onnx"]] = ["tflite", "onnx"]
    onnx_opset: int = Field(13, ge=9)
    parity_samples: int = Field(500, gt=0)


class BenchConfig(Strict):
    threads: int = Field(1, gt=0)
    warmup: int = Field(20, ge=0)
    min_runs: int = Field(200, gt=0)
    min_time_s: float = Field(2.0, ge=0)
    max_runs: int = Field(20000, gt=0)
    accuracy_samples: Optional[int] = Field(None, gt=0, description="test images; None means all")
    timeout_s: float = Field(600, gt=0)


# The default plan: the study's best chain. Train (or load) the teacher, distil it into the
# zoo's mid-size CNN, prune that globally, then quantization-aware training to int8.
# `benchmarks/default_chain/` measures it against the PTQ-only plan (PTQ_ONLY_STAGES).
DEFAULT_STAGES = [
    {"stage": "train"},
    {"stage": "distill", "method": "kd", "student": "cnn-assistant", "epochs": 8},
    {"stage": "prune", "method": "global", "sparsity": 0.5, "epochs": 2},
    {"stage": "qat", "epochs": 2},
]
PTQ_ONLY_STAGES = [{"stage": "train"}, {"stage": "quantize", "modes": ["int8"]}]


class Plan(Strict):
    name: str = "build"
    model: str = "cnn-teacher"
    dataset: DatasetConfig = DatasetConfig()
    seed: int = 0
    # Each entry is {"stage": NAME, ...settings}; validated against that stage's own config model.
    stages: list[Any] = Field(default_factory=lambda: copy.deepcopy(DEFAULT_STAGES), validate_default=True)
    export: ExportConfig = ExportConfig()
    bench: BenchConfig = BenchConfig()

    @field_validator("stages", mode="before")
    @classmethod
    def _validate_stages(cls, stages: Any) -> list:
        from edgecomp.stages import validate_stage_config

        if not isinstance(stages, list):
            raise ValueError("stages must be a list of {stage: NAME, ...} mappings")
        return [validate_stage_config(entry) for entry in stages]


def _known_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """Walks `loc` through nested models to list the keys allowed where an error happened."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        annotation = field.annotation if field else None
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return list(current.model_fields) if current is not None and hasattr(current, "model_fields") else []


def format_validation_error(err: ValidationError, model: type[BaseModel], source: str) -> str:
    """One readable line per problem, with a did-you-mean for misspelt keys."""
    lines = []
    for problem in err.errors():
        where = ".".join(str(p) for p in problem["loc"])
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            key = str(problem["loc"][-1])
            close = difflib.get_close_matches(key, _known_fields(model, problem["loc"]), n=1)
            message = f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else "")
        lines.append(f"{where}: {message}")
    return f"invalid {source}: " + "; ".join(lines)


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
