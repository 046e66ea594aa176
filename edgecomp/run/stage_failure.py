"""A note on an unexpected exception inside a stage: which stage, which model, which layer.

An `EdgecompError` already says what to do. Anything else raised inside a stage is edgecomp's own
failure; its traceback is kept, and a note above it (Python 3.11's `add_note`, printed first by
the CLI) names the stage, the user's model and the layer being handled, so a report of the bug
says where it happened without reading the traceback.
"""

from __future__ import annotations

import traceback
from typing import Optional

# Local variables that hold the layer a stage is working on (layer objects, or their names).
LAYER_OBJECT_LOCALS = ("layer", "consumer", "producer")
LAYER_NAME_LOCALS = ("layer_name", "name", "start")


def _layer_names(model) -> set[str]:
    return {layer.name for layer in getattr(model, "layers", None) or []}


def layer_in_traceback(err: BaseException, models: list) -> Optional[str]:
    """'NAME (Class)' of the layer the innermost frame was handling, or None.

    Walks the traceback from the innermost frame outwards and takes the first local that is a
    Keras layer (`layer`, `consumer`, `producer`) or the name of a layer of one of `models`.
    """
    known = {name: model for model in models if model is not None for name in _layer_names(model)}
    frames = [frame for frame, _ in traceback.walk_tb(err.__traceback__)]
    for frame in reversed(frames):
        local_vars = frame.f_locals
        for key in LAYER_OBJECT_LOCALS:
            value = local_vars.get(key)
            if hasattr(value, "get_config") and isinstance(getattr(value, "name", None), str):
                return f"{value.name} ({type(value).__name__})"
        for key in LAYER_NAME_LOCALS:
            value = local_vars.get(key)
            if isinstance(value, str) and value in known:
                return f"{value} ({type(known[value].get_layer(value)).__name__})"
    return None


def stage_failure_note(err: BaseException, *, stage: str, index: int, total: int, model_source: str,
                       models: list) -> str:
    """The sentence added to an unexpected exception raised by stage `stage` (number `index` of `total`)."""
    current = next((model for model in models if model is not None), None)
    described = (f" (Keras model {current.name!r}, {type(current).__name__}, {len(current.layers)} layers)"
                 if current is not None else "")
    layer = layer_in_traceback(err, models)
    where = f", while handling layer {layer}" if layer else ""
    return (f"edgecomp failed in stage {index}/{total} {stage!r} on model {model_source}{described}{where}. "
            "The traceback below shows where; unless its cause is in your model (e.g. a custom layer), it is a "
            "bug in edgecomp: please report it with this traceback.")
