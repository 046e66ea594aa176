"""The stage registry and the context a plan's stages run in.

A stage is a config model (its settings, validated from YAML) and a `run(ctx, cfg) -> info`
function that reads and replaces `ctx.model`. Stages register themselves in their own module;
`edgecomp/compress/__init__.py` imports every stage module explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from edgecomp.config import Strict, format_validation_error
from edgecomp.registry import Registry


@dataclass
class RunContext:
    """What stages share: the plan, the data, the run folder and the model being compressed."""

    plan: Any  # edgecomp.config.Plan
    data: Any  # edgecomp.data.Dataset
    run_dir: Path
    model: Any = None  # the current Keras model
    ptq_modes: list[str] = field(default_factory=list)  # converter-level quantization done at export
    # A stage that leaves a model which must be converted in a special way (QAT) records it here.
    export_hints: dict = field(default_factory=dict)
    log: Callable[[str], None] = print

    def stage_dir(self, index: int, name: str) -> Path:
        folder = self.run_dir / "stages" / f"{index:02d}-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder


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
