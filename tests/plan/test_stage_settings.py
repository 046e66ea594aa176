"""Stage settings (edgecomp/plan/stage_settings.py) agree with the code that runs them, and reject
every setting a stage or method would not use when the plan is read."""

import pytest

from edgecomp.core.errors import ConfigError
from edgecomp.plan.plan import parse_plan
from edgecomp.plan.stage_settings import (
    CALIBRATED_MODES,
    DEBUGGED_MODES,
    DISTILL_METHODS,
    PRUNE_METHODS,
    STAGE_NAMES,
    PtqMode,
)


def test_every_stage_with_settings_has_code_and_the_reverse():
    from edgecomp.run.stages import STAGES

    assert sorted(STAGE_NAMES) == STAGES.names()


def test_every_method_with_settings_has_code_and_the_reverse():
    from edgecomp.compress.distill.stage import METHODS as DISTILL_CODE
    from edgecomp.compress.prune import METHODS as PRUNE_CODE

    assert sorted(DISTILL_METHODS) == DISTILL_CODE.names()
    assert sorted(PRUNE_METHODS) == PRUNE_CODE.names()


def test_mode_facts_are_the_recipes():
    """Which modes a plan may list, which calibrate and which are debugged: the settings check
    what the recipes the exporters follow say (edgecomp.plan.precisions)."""
    from edgecomp.plan.precisions import PRECISIONS

    assert set(PtqMode.__args__) == {name for name in PRECISIONS.names() if PRECISIONS.get(name).quantize_mode}
    assert CALIBRATED_MODES == {"int8", "int8_io", "uint8_io", "int16x8", "a8w8", "a16w8", "auto"}
    assert DEBUGGED_MODES == {"int8", "int8_io", "uint8_io"}


# A setting the stage (or its method, or its modes) does not take, and the words the error must name.
MISPLACED = {
    "train": ({"learning_rate": 0}, "stages[1].train.learning_rate"),
    "distill": ({"method": "dlb", "student": "cnn-tiny"}, "method 'dlb' does not use student"),
    "prune": ({"method": "local", "scope": "conv"}, "pruning method 'local' does not use scope"),
    "quantize": ({"modes": ["float16"], "debug_top_layers": 3}, "debug_top_layers unused"),
    "qat": ({"epochs": 0}, "stages[1].qat.epochs"),
}


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_each_stage_rejects_a_bad_setting_when_the_plan_is_read(stage):
    settings, message = MISPLACED[stage]  # a new stage needs a case here
    with pytest.raises(ConfigError) as err:
        parse_plan({"stages": [{"stage": "train"}, {"stage": stage, **settings}]})
    assert message in str(err.value)


@pytest.mark.parametrize("stage, message", [
    ({"stage": "distill", "method": "takd", "assistants": []}, "takd needs at least one assistant"),
    ({"stage": "distill", "method": "byot", "exits": ["stage1_pool"], "exit": 2}, "exit 2 is out of range"),
    ({"stage": "distill", "method": "byot", "exits": []}, "byot needs at least one exit"),
    ({"stage": "quantize", "modes": ["dynamic"], "calibration_samples": 50}, "calibration_samples is unused"),
    ({"stage": "quantize", "modes": ["int8", "int8"]}, "modes lists int8 more than once"),
    ({"stage": "quantize", "modes": []}, "the stage would export nothing"),
    ({"stage": "quantise"}, "unknown stage 'quantise'. Did you mean 'quantize'?"),
    ({"method": "kd"}, "each stage needs a 'stage' key"),
])
def test_method_specific_settings_are_checked_when_the_plan_is_read(stage, message):
    with pytest.raises(ConfigError) as err:
        parse_plan({"stages": [{"stage": "train"}, stage]})
    assert message in str(err.value)


def test_settings_a_method_uses_are_accepted():
    plan = parse_plan({"stages": [
        {"stage": "train"},
        {"stage": "distill", "method": "byot", "exits": ["stage1_pool", "stage2_pool"], "exit": 2, "lambda": 0.1,
         "attention": False},
        {"stage": "prune", "method": "structured", "scope": "conv", "criterion": "l2", "sparsity": 0.3},
        {"stage": "quantize", "modes": ["float16"], "float_fallback_layers": 2, "calibration_samples": 64},
    ]})
    assert [stage.stage for stage in plan.stages] == ["train", "distill", "prune", "quantize"]
