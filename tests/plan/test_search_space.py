"""The plan's `search:` section, Optuna's conditional space and the trial plans it makes (no Ray, no training)."""

from __future__ import annotations

import pytest

from edgecomp.core.errors import ConfigError
from edgecomp.plan.plan import parse_plan
from edgecomp.plan.search_space import SearchSpace, candidate_precision, max_epochs, sample_point, trial_stages


def test_search_section_rejects_unknown_keys_with_a_hint():
    with pytest.raises(ConfigError) as err:
        parse_plan({"search": {"studnets": ["cnn-tiny"]}})
    message = str(err.value)
    assert "search.studnets: unknown key 'studnets'; did you mean 'students'?" in message
    assert "valid keys:" in message and "precisions" in message


@pytest.mark.parametrize("section, words", [
    ({"sparsity": [0.8, 0.3]}, "sparsity is [low, high]; got [0.8, 0.3]"),
    ({"widths": [0.5, 1.5]}, "widths must lie in (0, 1]"),
    ({"precisions": []}, "precisions is empty"),
    ({"precisions": ["int4"]}, "search.precisions[0]"),
    ({"min_epochs": 5, "epochs": 2}, "min_epochs 5 is above epochs 2"),
    ({"quantization": ["qat"], "precisions": ["float16"]}, "QAT exports int8 only"),
])
def test_bad_search_settings_name_the_problem(section, words):
    with pytest.raises(ConfigError, match=None) as err:
        parse_plan({"search": section})
    assert words in str(err.value)


def test_a_plan_with_a_search_section_still_builds():
    plan = parse_plan({"model": "cnn-student", "search": {"students": ["cnn-tiny"], "epochs": 3}})
    assert plan.search.students == ["cnn-tiny"] and plan.search.epochs == 3
    assert [s.stage for s in plan.stages] == ["train", "distill", "prune", "qat"]  # build's default chain


def test_default_students_depend_on_the_model():
    space = SearchSpace()
    assert space.student_choices(model_is_file=False) == ["cnn-student", "cnn-tiny"]
    assert space.student_choices(model_is_file=True) == ["auto"]


@pytest.mark.parametrize("model_is_file", [False, True], ids=["zoo", "file"])
def test_every_sampled_point_is_a_valid_plan(model_is_file):
    """40 points of Optuna's define-by-run space, each turned into a plan that validates."""
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SearchSpace(epochs=3, prune_epochs=1, qat_epochs=1)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {"prune": set(), "precision": set(), "quantization": set()}
    for _ in range(40):
        trial = study.ask()
        point = sample_point(trial, space, model_is_file)
        study.tell(trial, 0.5)
        stages = trial_stages(point, space, {"stage": "train", "epochs": 0})
        plan = parse_plan({"model": "user.keras" if model_is_file else "cnn-teacher", "stages": stages})
        names = [s.stage for s in plan.stages]
        assert names[:2] == ["train", "distill"]
        assert names[-1] == ("qat" if point["quantization"] == "qat" else "quantize")
        assert ("prune" in names) == (point["prune"] != "none")
        assert point["quantization"] == "ptq" or point["precision"] == "int8"  # QAT only for int8
        assert (plan.stages[1].student == "auto") == model_is_file
        if point["prune"] == "structured":
            assert space.structured_sparsity[0] <= plan.stages[2].sparsity <= space.structured_sparsity[1]
        for key in seen:
            seen[key].add(point[key])
    assert seen["prune"] == {"none", "global", "structured"}
    assert seen["quantization"] == {"ptq", "qat"}
    assert seen["precision"] == {"int8", "int8_io", "float16", "dynamic"}


def test_the_quantizers_recipes_are_searchable_precisions():
    """A space listing the AI Edge Quantizer's recipes gives trials that export them, judged by that file."""
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    recipes = ["a8w8", "a16w8", "w4", "dynamic_w4"]
    space = SearchSpace(precisions=recipes, quantization=["ptq"], prune_methods=["none"])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        point = sample_point(trial, space, model_is_file=False)
        study.tell(trial, 0.5)
        plan = parse_plan({"model": "cnn-teacher", "stages": trial_stages(point, space, {"stage": "train"})})
        assert plan.stages[-1].stage == "quantize" and plan.stages[-1].modes == [point["precision"]]
        assert candidate_precision(point) == point["precision"]  # the report's precision of that file
        seen.add(point["precision"])
    assert seen == set(recipes)
    with pytest.raises(ConfigError, match="precisions"):
        parse_plan({"search": {"precisions": ["auto"]}})  # auto is a search of its own, not a trial's choice


def test_candidate_precision_and_fidelity_ceiling():
    assert candidate_precision({"precision": "int8", "quantization": "qat"}) == "qat_int8"
    assert candidate_precision({"precision": "float16", "quantization": "ptq"}) == "float16"
    assert max_epochs(SearchSpace(epochs=4, prune_epochs=2, qat_epochs=1)) == 7
    # takd reports the assistant's epochs and then the student's: ASHA must not stop it at max_t before export
    assert max_epochs(SearchSpace(epochs=4, prune_epochs=2, qat_epochs=1, distill_methods=["kd", "takd"])) == 11


def test_start_points_are_tried_first_and_checked():
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    chain = {"student": "cnn-student", "distill_method": "kd", "temperature": 4.0, "alpha": 0.9, "prune": "global",
             "sparsity": 0.5, "precision": "int8", "quantization": "qat"}
    space = SearchSpace(start_points=[chain])
    study = optuna.create_study()
    for point in space.start_points:
        study.enqueue_trial(point)
    assert sample_point(study.ask(), space, model_is_file=False) == chain
    with pytest.raises(ConfigError, match="start point parameter.s. temprature unknown"):
        parse_plan({"search": {"start_points": [{"temprature": 4.0}]}})
