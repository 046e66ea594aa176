"""A run's state saved to the stage cache after each stage and restored: same outputs, same export inputs.

The round trips train and run whole chains (about a third of the fast suite's time), so they are `slow`;
the static checks stay fast, and tests/cli/test_resume.py and test_cli.py keep a cached rebuild in the fast part."""

import dataclasses
import json

import numpy as np
import pytest

from edgecomp.compress.context import RunContext
from edgecomp.core import cache_store
from edgecomp.core.records import ExportInputs, QatScheme
from edgecomp.plan.plan import parse_plan
from edgecomp.run import stage_state
from edgecomp.run.pipeline import run_stages
from edgecomp.run.saved_state import ModelRef, QatRecipe

# train -> prune -> qat -> quantize: a pruned model, a QAT model, a float model kept for export, PTQ modes.
CHAIN = [{"stage": "train", "epochs": 1, "batch_size": 64},
         {"stage": "prune", "method": "global", "sparsity": 0.5, "epochs": 1, "batch_size": 64},
         {"stage": "qat", "epochs": 1, "batch_size": 64},
         {"stage": "quantize", "modes": ["int8"], "calibration_samples": 64}]


@pytest.fixture(scope="module")
def data():
    from edgecomp.data.dataset import load_dataset

    return load_dataset("fashion_mnist", train_limit=512, test_limit=256, seed=0)


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECOMP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _ctx(data, tmp_path, stages=CHAIN, model="cnn-tiny"):
    return RunContext(plan=parse_plan({"model": model, "stages": stages}), data=data, run_dir=tmp_path / "run")


def _outputs(model, data):
    return np.asarray(model(data.images("test", 64), training=False))


@pytest.fixture(scope="module")
def finished_chain(data, tmp_path_factory):
    """The chain run once (every stage saved) into a cache of this module's, its context and records.

    The tests using it read that cache; the others switch to their own (`cache_dir`) while they run."""
    import os

    previous = os.environ.get("EDGECOMP_CACHE_DIR")
    os.environ["EDGECOMP_CACHE_DIR"] = str(tmp_path_factory.mktemp("chain_cache"))
    ctx = _ctx(data, tmp_path_factory.mktemp("chain"))
    records = run_stages(ctx)
    yield ctx, records
    if previous is None:
        os.environ.pop("EDGECOMP_CACHE_DIR", None)
    else:
        os.environ["EDGECOMP_CACHE_DIR"] = previous


@pytest.mark.slow
def test_every_stage_of_the_chain_is_saved(finished_chain):
    _, records = finished_chain
    assert [r["cached"] for r in records] == [False] * 4
    assert all(r.get("cache_key") and "cache_skipped" not in r for r in records), records
    # quantize leaves the QAT model as it was: its entry names the qat entry's model instead of a copy.
    quantize = cache_store.read_entry(records[3]["cache_key"])
    assert quantize["models"]["model"] == [records[2]["cache_key"], "model.qat.weights.h5"]
    assert quantize["models"]["original_model"] == [records[0]["cache_key"], "model.keras"]
    assert [p.name for p in cache_store.entry_dir(records[3]["cache_key"]).iterdir()] == ["entry.json"]
    # The QAT model's recipe, typed: its float model (the pruned one) and the scheme the qat stage used;
    # the quantize entry carries it too, so restoring reads no other entry's record.
    recipe = QatRecipe(weights=ModelRef(records[2]["cache_key"], "model.qat.weights.h5"),
                       float_model=ModelRef(records[1]["cache_key"], "model.keras"), scheme=QatScheme.PRUNE_PRESERVING)
    assert [stage_state.read_state(r["cache_key"]).qat_models for r in records[2:]] == [[recipe], [recipe]]
    assert stage_state.read_state(records[3]["cache_key"]).export_values["qat_scheme"] is QatScheme.PRUNE_PRESERVING


@pytest.mark.slow
def test_restored_state_gives_the_same_outputs_and_export_inputs(finished_chain, data, tmp_path):
    ctx, records = finished_chain
    again = _ctx(data, tmp_path)
    restored = run_stages(again)
    assert [r["cached"] for r in restored] == [True] * 4
    assert [r["cache_key"] for r in restored] == [r["cache_key"] for r in records]
    assert [r["seconds"] for r in restored] == [r["seconds"] for r in records]  # as first measured
    assert [r["info"] for r in restored] == [r["info"] for r in records]
    assert stage_state.is_qat_model(again.model)
    for name in ("model",):
        np.testing.assert_array_equal(_outputs(getattr(again, name), data), _outputs(getattr(ctx, name), data))
    for name in stage_state.MODEL_INPUTS:
        np.testing.assert_array_equal(_outputs(getattr(again.export_inputs, name), data),
                                      _outputs(getattr(ctx.export_inputs, name), data))
    for name in stage_state.VALUE_INPUTS:
        assert getattr(again.export_inputs, name) == getattr(ctx.export_inputs, name)
    assert again.export_inputs.pruned is True and again.ptq_modes == ctx.ptq_modes == ["qat_int8", "int8"]
    assert again.warnings == ctx.warnings


@pytest.mark.slow
def test_a_later_stage_runs_from_the_restored_state(finished_chain, data, tmp_path):
    """Only the last stage changes: the first three come from the cache, the fourth runs on their state."""
    ctx, records = finished_chain
    stages = CHAIN[:3] + [{"stage": "quantize", "modes": ["float16"]}]
    again = _ctx(data, tmp_path, stages=stages)
    restored = run_stages(again)
    assert [r["cached"] for r in restored] == [True, True, True, False]
    assert restored[3]["cache_key"] != records[3]["cache_key"]
    assert again.ptq_modes == ["qat_int8", "float16"]
    np.testing.assert_array_equal(_outputs(again.model, data), _outputs(ctx.model, data))


@pytest.mark.slow
def test_no_cache_neither_reads_nor_writes(finished_chain, data, tmp_path, monkeypatch):
    again = _ctx(data, tmp_path, stages=CHAIN[:1])
    monkeypatch.setenv("EDGECOMP_CACHE_DIR", str(tmp_path / "empty-cache"))  # a write would show here
    records = run_stages(again, use_cache=False)
    assert records[0]["cached"] is False and records[0]["cache_skipped"] == "cache turned off (--no-cache)"
    assert cache_store.list_entries() == []


@pytest.mark.slow
def test_cache_false_on_a_stage_turns_it_off_from_there(data, tmp_path, cache_dir):
    stages = [CHAIN[0], {**CHAIN[3], "stage": "quantize"}]
    stages[0] = {**stages[0], "cache": False}
    records = run_stages(_ctx(data, tmp_path, stages=stages))
    assert all("stage 1 (train) has cache: false" == r["cache_skipped"] for r in records)
    assert cache_store.list_entries() == []


@pytest.mark.slow
def test_a_model_no_entry_holds_is_saved_in_this_entry(data, tmp_path, cache_dir, monkeypatch):
    from edgecomp.models.zoo import build_zoo_model
    from edgecomp.run.stages import STAGES

    def quantize_with_another_float_model(ctx, cfg):
        ctx.export_inputs.float_model = build_zoo_model("cnn-tiny", data.input_shape, data.num_classes)
        return {}

    monkeypatch.setitem(STAGES._items, "quantize", quantize_with_another_float_model)
    ctx = _ctx(data, tmp_path, stages=[CHAIN[0], CHAIN[3]])
    records = run_stages(ctx)
    assert "cache_skipped" not in records[1]
    assert cache_store.read_entry(records[1]["cache_key"])["models"]["float_model"] == [records[1]["cache_key"],
                                                                                       "float_model.keras"]
    again = _ctx(data, tmp_path, stages=[CHAIN[0], CHAIN[3]])
    run_stages(again)
    np.testing.assert_array_equal(_outputs(again.export_inputs.float_model, data),
                                  _outputs(ctx.export_inputs.float_model, data))


@pytest.mark.slow
def test_a_keras3_model_is_not_cached_and_the_record_says_why(data, tmp_path, cache_dir, monkeypatch):
    import keras as keras3

    from edgecomp.run.stages import STAGES

    def quantize_with_a_keras3_model(ctx, cfg):
        ctx.export_inputs.float_model = keras3.Sequential([keras3.Input((28, 28, 1)), keras3.layers.Flatten()])
        return {}

    monkeypatch.setitem(STAGES._items, "quantize", quantize_with_a_keras3_model)
    records = run_stages(_ctx(data, tmp_path, stages=[CHAIN[0], CHAIN[3]]))
    assert records[0].get("cache_key") and "cache_skipped" not in records[0]
    assert records[1]["cache_skipped"].startswith("float_model is not a tf-keras model (Sequential)")
    assert [e.stage for e in cache_store.list_entries()] == ["train"]


@pytest.mark.slow
def test_an_entry_that_is_not_a_saved_state_is_removed_and_its_stage_runs_again(data, tmp_path, cache_dir, capsys):
    records = run_stages(_ctx(data, tmp_path, stages=CHAIN[:1]))
    entry = cache_store.entry_dir(records[0]["cache_key"]) / cache_store.ENTRY_FILE
    facts = json.loads(entry.read_text())
    facts["models"]["model"] = "model.keras"  # not [entry key, file]
    entry.write_text(json.dumps(facts))
    again = run_stages(_ctx(data, tmp_path, stages=CHAIN[:1]))
    assert again[0]["cached"] is False and again[0]["cache_key"] == records[0]["cache_key"]
    assert "unusable (a model reference is a list (entry key, file), not 'model.keras')" in capsys.readouterr().err
    assert stage_state.read_state(records[0]["cache_key"]).models["model"] == ModelRef(records[0]["cache_key"],
                                                                                      "model.keras")


def test_the_cache_knows_every_field_of_the_run_state():
    """A field added to RunContext or ExportInputs must be saved (or the stage left uncached) on purpose."""
    assert {f.name for f in dataclasses.fields(RunContext)} == stage_state.KNOWN_CONTEXT_FIELDS
    assert [f.name for f in dataclasses.fields(ExportInputs)] == [*stage_state.MODEL_INPUTS, *stage_state.VALUE_INPUTS]


@pytest.mark.slow
def test_a_model_that_reloads_differently_is_not_cached(data, tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr(stage_state, "max_output_difference", lambda *args: 0.5)
    records = run_stages(_ctx(data, tmp_path, stages=CHAIN[:1]))
    assert records[0]["cache_skipped"].startswith("model reloaded from the cache gives other outputs")
    assert cache_store.list_entries() == [] and not list((cache_dir / "stages").iterdir())


def test_teacher_logits_are_cached_by_the_teachers_weights(data, cache_dir):
    from edgecomp.compress.distiller import teacher_train_logits
    from edgecomp.core.tfenv import keras
    from edgecomp.data.pipeline import predict
    from edgecomp.models.zoo import build_zoo_model

    teacher = build_zoo_model("cnn-tiny", data.input_shape, data.num_classes)
    logits, key, from_cache = teacher_train_logits(teacher, data)
    assert key and from_cache is False
    np.testing.assert_array_equal(logits, predict(teacher, data, "train", 512))
    same_weights = keras().models.clone_model(teacher)  # another object, the same weights: the same logits
    same_weights.set_weights(teacher.get_weights())
    again, again_key, from_cache = teacher_train_logits(same_weights, data)
    assert again_key == key and from_cache is True
    np.testing.assert_array_equal(again, logits)
    other = build_zoo_model("cnn-tiny", data.input_shape, data.num_classes)  # other initial weights
    assert teacher_train_logits(other, data)[1] != key
    entry = next(e for e in cache_store.list_entries() if e.key == key)
    assert entry.stage == "distill (teacher logits)"


def test_teacher_logits_skip_the_cache_when_it_is_off(data, cache_dir):
    from edgecomp.compress.distiller import teacher_train_logits
    from edgecomp.models.zoo import build_zoo_model

    teacher = build_zoo_model("cnn-tiny", data.input_shape, data.num_classes)
    token = cache_store.ENABLED.set(False)
    try:
        _, key, from_cache = teacher_train_logits(teacher, data)
    finally:
        cache_store.ENABLED.reset(token)
    assert key is None and from_cache is False and cache_store.list_entries() == []


# One tiny setting per registered method, after `train` of cnn-student: a method added without one
# fails test_every_method_round_trips (its state must be restorable, or say why it is not).
METHOD_STAGES = {
    ("distill", "kd"): {"student": "cnn-tiny"},
    ("distill", "takd"): {"assistants": ["cnn-tiny"], "student": "cnn-tiny"},
    ("distill", "byot"): {"exit": 1},  # a truncated network with its exit's attention module
    ("distill", "dlb"): {},
    ("prune", "local"): {"sparsity": 0.5},
    ("prune", "global"): {"sparsity": 0.5},
    ("prune", "structured"): {"sparsity": 0.5, "scope": "conv"},
    ("prune", "2:4"): {},
}


def test_every_method_has_a_round_trip_case():
    from edgecomp.compress.distill.stage import METHODS as DISTILL
    from edgecomp.compress.prune import METHODS as PRUNE

    assert set(METHOD_STAGES) == {("distill", m) for m in DISTILL.names()} | {("prune", m) for m in PRUNE.names()}


@pytest.mark.slow
@pytest.mark.parametrize("stage, method", sorted(METHOD_STAGES), ids=lambda v: str(v))
def test_every_method_round_trips(stage, method, data, tmp_path, finished_chain):
    """Its model saved, reloaded with the same outputs, restored by the next run (the teacher shared)."""
    stages = [CHAIN[0], {"stage": stage, "method": method, "epochs": 1, "batch_size": 64,
                         **METHOD_STAGES[(stage, method)]}]
    ctx = _ctx(data, tmp_path, stages=stages, model="cnn-student")
    records = run_stages(ctx)
    assert records[1]["cached"] is False and "cache_skipped" not in records[1], records[1].get("cache_skipped")
    again = _ctx(data, tmp_path, stages=stages, model="cnn-student")
    assert [r["cached"] for r in run_stages(again)] == [True, True]
    np.testing.assert_array_equal(_outputs(again.model, data), _outputs(ctx.model, data))
    # dlb and byot train the teacher in place, so the "original" is that trained model in both runs.
    np.testing.assert_array_equal(_outputs(again.export_inputs.original_model, data),
                                  _outputs(ctx.export_inputs.original_model, data))
    assert again.export_inputs.pruned == ctx.export_inputs.pruned
