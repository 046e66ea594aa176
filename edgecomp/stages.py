"""The stage registry and the context a plan's stages run in.

A stage is a config model (its settings, validated from YAML) and a `run(ctx, cfg) -> info`
function that reads and replaces `ctx.model`. Stages register themselves in their own module;
`edgecomp/compress/__init__.py` imports every stage module explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pydantic import ValidationError

from edgecomp.config import Strict, format_validation_error
from edgecomp.records import ExportInputs
from edgecomp.registry import Registry

if TYPE_CHECKING:
    from edgecomp.config import Plan
    from edgecomp.data import Dataset


@dataclass
class RunContext:
    """What stages share: the plan, the data, the run folder and the model being compressed."""

    plan: Plan
    data: Dataset
    run_dir: Path
    model: Any = None  # the current Keras model
    ptq_modes: list[str] = field(default_factory=list)  # converter-level quantization done at export
    export_inputs: ExportInputs = field(default_factory=ExportInputs)  # what export needs besides `model`


@dataclass(frozen=True)
class StageDef:
    config: type[Strict]
    run: Callable[[RunContext, Any], dict]


STAGES: Registry[StageDef] = Registry("stage")


def validate_stage_config(entry: Any) -> Strict:
    """Turns one `{stage: NAME, ...}` mapping into that stage's config model."""
    import edgecomp.compress  # noqa: F401 - registers every stage

    if isinstance(entry, Strict):
        return entry
    if not isinstance(entry, dict) or "stage" not in entry:
        raise ValueError(f"each stage needs a 'stage' key naming one of {', '.join(STAGES.names())}; got {entry!r}")
    name = entry["stage"]
    config_model = STAGES.get(name).config  # an unknown name raises UsageError with a did-you-mean
    try:
        return config_model.model_validate(entry)
    except ValidationError as err:
        raise ValueError(format_validation_error(err, config_model, f"{name} stage")) from err
