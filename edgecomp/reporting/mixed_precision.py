"""The `auto` mixed-precision search as a table: one row per step, from an artifact's `quantizer.auto`
record in report.json (edgecomp.exporters.edge_quantizer.auto_mixed_precision).

Step 0 is the all-int8 file; each later step moves the named layers (the noisiest left, with the op that
writes its input) to the step's precision. Accuracy is on the validation split, as the search measured it.
"""

from __future__ import annotations

from typing import Optional

from edgecomp.reporting import cells
from edgecomp.reporting.tables import Column, Row, Table, value

# A moved layer is named by its output tensor: "model/block_1/conv/Conv2D;model/block_1/bn/..." (the
# converter joins fused ops' names with ';'): the first part names the layer.
LAYER_NAME_CHARS = 60


def searched(report: dict) -> list[dict]:
    """The artifacts made by the `auto` search (with its step record), in report order."""
    return [a for a in report.get("artifacts") or [] if ((a.get("quantizer") or {}).get("auto") or {}).get("steps")]


def layer_label(tensor_name: str) -> str:
    """A moved layer's short name: the first of the fused ops' names, cut at `LAYER_NAME_CHARS`."""
    first = tensor_name.split(";")[0]
    return first if len(first) <= LAYER_NAME_CHARS else "…" + first[-(LAYER_NAME_CHARS - 1):]


def _moved(row: dict) -> str:
    return ", ".join(layer_label(name) for name in row["moved"]) if row["moved"] else "none: every layer int8"


def _percent(accuracy: Optional[float]) -> str:  # the search records percent, not a fraction
    return cells.DASH if accuracy is None else f"{accuracy:.2f}%"


def _drop(drop: Optional[float]) -> str:
    return cells.DASH if drop is None else f"{drop:.2f} pt"


AUTO_STEP_COLUMNS = [
    value("step", "step", numeric=True),
    Column("layers moved", _moved),
    value("precision", "precision", no_wrap=True),
    value("accuracy", "validation accuracy", _percent, numeric=True, no_wrap=True),
    value("drop", "drop vs float", _drop, numeric=True, no_wrap=True),
    value("bytes", "size", cells.size, numeric=True, no_wrap=True),
]


def auto_steps_table(artifact: dict) -> Table:
    """One row per step of the artifact's `auto` search; the drop is float32's validation accuracy minus the step's."""
    search = artifact["quantizer"]["auto"]
    float_accuracy = search.get("float_accuracy")
    rows = []
    for index, step in enumerate(search["steps"]):
        drop = None if float_accuracy is None or step.get("accuracy") is None else float_accuracy - step["accuracy"]
        rows.append(Row({"step": index, "moved": step.get("moved") or [], "precision": step.get("precision"),
                         "accuracy": step.get("accuracy"), "drop": drop, "bytes": step.get("bytes")}))
    return Table(AUTO_STEP_COLUMNS, rows)


def auto_steps_note(artifact: dict) -> str:
    """What the search aimed at and whether its written file (the last step) got there."""
    search = artifact["quantizer"]["auto"]
    outcome = ("the last step is the file written" if search.get("met") else
               "not met: every layer was raised and the last step is the file written")
    return (f"{artifact['name']}: float32 {_percent(search.get('float_accuracy'))} on the validation split, "
            f"max_drop {search.get('max_drop')} pt; {outcome}.")
