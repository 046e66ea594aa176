"""The base of every settings model and the one way validation errors are shown to a user.

A leaf module (pydantic and the standard library only): plans, stage settings and target
profiles all build on it, so none of them needs to import another to share it.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def did_you_mean(kind: str, name: str, valid: Iterable[str]) -> str:
    """"unknown KIND 'name'. Did you mean 'x'? Valid names: a, b." for a name that is not in `valid`."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Valid names: {', '.join(valid)}."


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The settings models an annotation holds: Model, Optional[Model], list[Union[A, B]] ..."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _is_tag_of(model: type[BaseModel], part: str) -> bool:
    """True when `part` is the value of one of the model's Literal fields (a discriminated union's tag)."""
    return part not in model.model_fields and any(
        typing.get_origin(field.annotation) is typing.Literal and typing.get_args(field.annotation) == (part,)
        for field in model.model_fields.values())


def known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Walks `loc` through nested models (lists, optionals, tagged unions) to the keys allowed there."""
    current = [model]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        tagged = [candidate for candidate in current if _is_tag_of(candidate, str(part))]
        if tagged:
            current = tagged
            continue
        current = [inner for candidate in current if part in candidate.model_fields
                   for inner in _models_in(candidate.model_fields[part].annotation)]
    return list(dict.fromkeys(key for candidate in current for key in candidate.model_fields))


def _where(loc: tuple) -> str:
    """('stages', 1, 'prune', 'epoch') -> 'stages[1].prune.epoch'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def format_validation_error(err: ValidationError, model: type[BaseModel], source: str) -> str:
    """One readable clause per problem, with a did-you-mean and the valid keys for a misspelt key.

    Args:
        err: what pydantic raised while validating `model`.
        model: the top-level model validated (a Plan, a TargetProfile...).
        source: what was read, for the message ("plan plan.yaml", "target profile rpi4").

    Returns:
        "invalid SOURCE: where: problem; where: problem".
    """
    clauses = []
    for problem in err.errors():
        where = _where(problem["loc"])
        message = problem["msg"]
        if problem["type"] == "value_error":
            message = str(problem["ctx"]["error"])  # our validators' words, without "Value error, "
        elif problem["type"] == "extra_forbidden":
            key = str(problem["loc"][-1])
            known = known_keys(model, problem["loc"])
            close = difflib.get_close_matches(key, known, n=1)
            message = f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else "")
            if known:
                message += f" (valid keys: {', '.join(known)})"
        clauses.append(f"{where}: {message}" if where else message)
    return f"invalid {source}: " + "; ".join(clauses)
