"""The plan of a build or search: the plan given (none, a `Plan`, a dict or a YAML path) with the
arguments applied on top. `edgecomp build` / `edgecomp search` flags and `edgecomp.build(...)` keyword
arguments both end here, so a flag and an argument of the same name always mean the same thing.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from edgecomp.core.errors import UsageError
from edgecomp.plan.plan import Plan, default_stages, load_yaml, parse_plan

PlanInput = Union[None, Plan, dict, str, Path]


def plan_data(plan: PlanInput) -> tuple[dict, str]:
    """The plan as a mutable mapping of what it sets, and where it came from (for error messages).

    Raises:
        ConfigError: a YAML file that is missing or not a mapping. UsageError: any other type.
    """
    if plan is None:
        return {}, "plan"
    if isinstance(plan, Plan):
        return plan.model_dump(mode="json", exclude_unset=True), "plan"
    if isinstance(plan, dict):
        return copy.deepcopy(plan), "plan"
    if isinstance(plan, (str, Path)):
        return load_yaml(Path(plan)), f"plan {plan}"
    raise UsageError(f"plan must be None, a Plan, a dict or a YAML path; got a {type(plan).__name__}.")


def stage_entries(stages: Sequence[Union[str, dict]]) -> list[dict]:
    """Stage names or {"stage": NAME, ...} mappings as plan entries (`["train", "qat"]` works)."""
    return [{"stage": stage} if isinstance(stage, str) else copy.deepcopy(dict(stage)) for stage in stages]


def resolve_plan(plan: PlanInput = None, *, model: Optional[str] = None, dataset: Optional[str] = None,
                 stages: Optional[Sequence[Union[str, dict]]] = None, preset: Optional[str] = None,
                 epochs: Optional[int] = None, train_limit: Optional[int] = None, seed: Optional[int] = None,
                 normalization: Any = None, name: Optional[str] = None,
                 time_budget: Union[str, float, None] = None) -> Plan:
    """The plan (or the default plan) with the given settings applied on top, validated.

    A model file is loaded as it is unless `epochs` (or the plan's train stage) sets epochs: the plan's
    own rule, so a YAML plan and these arguments resolve alike.

    Args:
        plan: None (the default plan), a `Plan`, a dict as in a plan YAML, or a YAML path.
        model: a zoo name or a model file path (overrides the plan's `model`).
        dataset: a dataset name or path (overrides `dataset.name`).
        stages: stage names or mappings (overrides `stages`).
        preset: "fast" or "quality". epochs: the train stage's epochs. train_limit: training images kept.
        seed: the random seed. normalization: `dataset.normalization`. name: the plan's name.
        time_budget: the training stages' time, seconds or "20m" (`Plan.time_budget`).

    Returns:
        The validated `Plan`.

    Raises:
        ConfigError: a setting that does not validate (with the plan's source and a did-you-mean).

    Examples:
        >>> resolve_plan(model="cnn-tiny", stages=["train", {"stage": "quantize", "modes": ["int8"]}]).stages[1].modes
        ['int8']
    """
    data, source = plan_data(plan)
    for key, value in {"model": model, "seed": seed, "preset": preset, "name": name,
                       "time_budget": time_budget}.items():
        if value is not None:
            data[key] = value
    for key, value in {"name": dataset, "train_limit": train_limit, "normalization": normalization}.items():
        if value is not None:
            data.setdefault("dataset", {})[key] = value
    if stages is not None:
        data["stages"] = stage_entries(stages)
    entries = data.setdefault("stages", default_stages(str(data.get("model", "cnn-teacher"))))
    if epochs is not None:
        for stage in [s for s in entries if isinstance(s, dict) and s.get("stage") == "train"]:
            stage["epochs"] = epochs
    # A model file with no train epochs is loaded as it is: the plan's own rule (Plan._user_model_loaded_as_is).
    return parse_plan(data, source=source)
