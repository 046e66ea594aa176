"""The typed record of a saved run state (entry.json): it round-trips through JSON, and a file that is
not one is refused with the reason."""

import json

import pytest

from edgecomp.core.records import QatScheme, RunWarning
from edgecomp.run.saved_state import ModelRef, QatRecipe, SavedState, UnreadableState

TRAIN, PRUNE, QAT, QUANTIZE = ("a" * 32, "b" * 32, "c" * 32, "d" * 32)


def quantize_state() -> SavedState:
    """The state after train -> prune -> qat -> quantize: every model in an earlier entry."""
    qat_weights = ModelRef(QAT, "model.qat.weights.h5")
    return SavedState(
        key=QUANTIZE, stage="quantize", index=4, model="cnn-tiny", plan_name="chain",
        created="2026-12-06T19:00:00+00:00",
        models={"model": qat_weights, "original_model": ModelRef(TRAIN, "model.keras"),
                "float_model": ModelRef(PRUNE, "model.keras")},
        qat_models=[QatRecipe(weights=qat_weights, float_model=ModelRef(PRUNE, "model.keras"),
                              scheme=QatScheme.PRUNE_PRESERVING)],
        export_values={"pruned": True, "calibration_samples": 64, "debug_drop_points": 1.0, "debug_top_layers": 5,
                       "float_fallback_layers": 0, "qat_scheme": QatScheme.PRUNE_PRESERVING},
        ptq_modes=["qat_int8", "int8"], warnings=[RunWarning("near_chance", "10.2% on 500 images", "train longer")],
        records=[{"stage": "train", "seconds": 1.5, "info": {"epochs": 1}}])


def test_a_saved_state_round_trips_through_json_with_its_types():
    state = quantize_state()
    text = json.dumps(state.to_json())
    again = SavedState.from_json(json.loads(text))
    assert again == state
    assert again.qat_models[0].scheme is QatScheme.PRUNE_PRESERVING
    assert again.export_values["qat_scheme"] is QatScheme.PRUNE_PRESERVING
    assert isinstance(again.warnings[0], RunWarning) and isinstance(again.models["model"], ModelRef)
    recipe = again.qat_recipe(again.models["model"])
    assert recipe.float_model == again.models["float_model"] and again.qat_recipe(again.models["float_model"]) is None
    # `edgecomp cache list` reads the same file: each role as [entry key, file].
    assert json.loads(text)["models"] == {"model": [QAT, "model.qat.weights.h5"], "original_model": [TRAIN, "model.keras"],
                                          "float_model": [PRUNE, "model.keras"]}


def test_an_empty_role_and_no_qat_model_round_trip():
    state = quantize_state()
    state.models, state.qat_models = {"model": ModelRef(TRAIN, "model.keras"), "float_model": None}, []
    state.export_values["qat_scheme"] = None
    assert SavedState.from_json(json.loads(json.dumps(state.to_json()))) == state


@pytest.mark.parametrize("damage, reason", [
    (lambda facts: facts.pop("qat_models"), "KeyError"),
    (lambda facts: facts["qat_models"][0].update(scheme="per_tensor"), "'per_tensor' is not a valid QatScheme"),
    (lambda facts: facts["models"].update(model="model.keras"), "a model reference is a list \\(entry key, file\\)"),
    (lambda facts: facts["warnings"][0].pop("hint"), "TypeError"),
])
def test_an_entry_that_is_not_a_saved_state_says_why(damage, reason):
    facts = quantize_state().to_json()
    damage(facts)
    with pytest.raises(UnreadableState, match=reason):
        SavedState.from_json(facts)
