"""The typed record of a run's state after a stage, as `edgecomp.run.stage_state` saves it (entry.json).

Which model each role of the run state holds (`model`, `original_model`, `float_model`) and where
its file is, how to rebuild a QAT model that is kept as weights only (its float model and the
scheme it was built with), the export inputs' values, the PTQ modes, the warnings and the stage
records so far. JSON only, no TensorFlow: `edgecomp cache list` reads the same files
(`edgecomp.core.cache_store.list_entries` reads `models`, whose layout is therefore
`{role: [entry key, file] | null}`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from edgecomp.core.records import QatScheme, RunWarning


class UnreadableState(ValueError):
    """An entry.json that is not a saved state of this edgecomp (cut short, edited, another format)."""


@dataclass(frozen=True)
class ModelRef:
    """A saved model: `file` in the folder of cache entry `entry` (this state's entry, or an earlier one)."""

    entry: str
    file: str

    def to_json(self) -> list:
        return [self.entry, self.file]

    @classmethod
    def from_json(cls, value: Any) -> Optional[ModelRef]:
        if value is None:
            return None
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) for part in value)):
            raise UnreadableState(f"a model reference is a list (entry key, file), not {value!r}")
        return cls(value[0], value[1])


@dataclass(frozen=True)
class QatRecipe:
    """How a QAT model is rebuilt: tfmot 0.8's wrappers do not survive a `.keras` round trip (its
    QuantizeLayer expects 5 variables and finds 3 on load), so the model is kept as weights only,
    rebuilt with the qat stage's own `build_qat_model` on its float model, and the weights loaded.

    Attributes:
        weights: the QAT model's weights file.
        float_model: the model it was built from.
        scheme: the quantize scheme it was built with (`ExportInputs.qat_scheme` when it was saved).
    """

    weights: ModelRef
    float_model: ModelRef
    scheme: QatScheme

    def to_json(self) -> dict:
        return {"weights": self.weights.to_json(), "float_model": self.float_model.to_json(),
                "scheme": self.scheme.value}

    @classmethod
    def from_json(cls, value: dict) -> QatRecipe:
        return cls(weights=ModelRef.from_json(value["weights"]), float_model=ModelRef.from_json(value["float_model"]),
                   scheme=QatScheme(value["scheme"]))


@dataclass
class SavedState:
    """A run's state after stage number `index` (`stage`), saved in cache entry `key`.

    Attributes:
        models: role -> the file holding that role's model, None when the role is empty; roles
            holding the same model name the same file.
        qat_models: the recipe of every QAT model among `models`, wherever its weights are.
        export_values: `ExportInputs`' fields that are not models (`edgecomp.run.stage_state.VALUE_INPUTS`).
        records: the stage records up to this one, as the report shows them.
    """

    key: str
    stage: str
    index: int
    model: str  # the plan's model (a zoo name or a file), for `edgecomp cache list`
    plan_name: str
    created: str  # ISO 8601, UTC
    models: dict[str, Optional[ModelRef]]
    qat_models: list[QatRecipe] = field(default_factory=list)
    export_values: dict[str, Any] = field(default_factory=dict)
    ptq_modes: list[str] = field(default_factory=list)
    warnings: list[RunWarning] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)

    def qat_recipe(self, ref: ModelRef) -> Optional[QatRecipe]:
        """The recipe of the QAT model whose weights are `ref`, or None for a model saved whole."""
        return next((recipe for recipe in self.qat_models if recipe.weights == ref), None)

    def to_json(self) -> dict:
        """entry.json's content: plain JSON types (numpy values in records are left for the caller's encoder)."""
        values = {name: value.value if isinstance(value, QatScheme) else value
                  for name, value in self.export_values.items()}
        return {"key": self.key, "stage": self.stage, "index": self.index, "model": self.model,
                "plan_name": self.plan_name, "created": self.created,
                "models": {role: ref.to_json() if ref else None for role, ref in self.models.items()},
                "qat_models": [recipe.to_json() for recipe in self.qat_models],
                "export_inputs": values, "ptq_modes": list(self.ptq_modes),
                "warnings": [warning.to_dict() for warning in self.warnings], "records": self.records}

    @classmethod
    def from_json(cls, facts: Any) -> SavedState:
        """The record of an entry.json.

        Raises:
            UnreadableState: it lacks a field or holds a value of the wrong kind.
        """
        try:
            values = dict(facts["export_inputs"])
            if values.get("qat_scheme") is not None:  # the one value that is not plain JSON in the run state
                values["qat_scheme"] = QatScheme(values["qat_scheme"])
            return cls(key=facts["key"], stage=facts["stage"], index=int(facts["index"]), model=facts["model"],
                       plan_name=facts["plan_name"], created=facts["created"],
                       models={role: ModelRef.from_json(ref) for role, ref in facts["models"].items()},
                       qat_models=[QatRecipe.from_json(recipe) for recipe in facts["qat_models"]],
                       export_values=values, ptq_modes=list(facts["ptq_modes"]),
                       warnings=[RunWarning(**warning) for warning in facts["warnings"]],
                       records=list(facts["records"]))
        except UnreadableState:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise UnreadableState(f"not a saved run state ({type(err).__name__}: {err})") from None
