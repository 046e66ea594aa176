"""The precision registry: every precision edgecomp makes or reads has one recipe, a typo is a
did-you-mean error, and each recipe carries its own parity rule."""

import pytest

from edgecomp.core.errors import ConfigError, UsageError
from edgecomp.plan.plan import parse_plan
from edgecomp.plan.precisions import (
    BASELINE_PRECISION,
    FLOAT_FALLBACK_PRECISION,
    PRECISIONS,
    QAT_PRECISION,
    QAT_REPLACES,
    QUANTIZE_MODES,
)
from edgecomp.plan.search_space import SearchSpace


def test_every_precision_edgecomp_makes_has_a_recipe():
    """Plan modes, the qat and float-fallback recipes, the baseline and the search's choices."""
    made = set(QUANTIZE_MODES) | {BASELINE_PRECISION, QAT_PRECISION, FLOAT_FALLBACK_PRECISION, QAT_REPLACES}
    made |= set(SearchSpace.model_fields["precisions"].annotation.__args__[0].__args__)
    assert made <= set(PRECISIONS.names())
    assert not PRECISIONS.get(QAT_PRECISION).post_training
    assert PRECISIONS.get(FLOAT_FALLBACK_PRECISION).kind == "selective_int8"


@pytest.mark.parametrize("name", PRECISIONS.names())
def test_each_recipe_is_complete(name):
    """Named as registered, described, a rule of its own, file labels that are recipes too."""
    recipe = PRECISIONS.get(name)
    assert recipe.name == name and recipe.description
    assert set(recipe.file_labels) <= set(PRECISIONS.names())
    assert 0 < recipe.parity.min_top1_agreement <= 1 and recipe.parity.max_rel_abs_diff > 0


def test_a_typo_is_a_did_you_mean_error():
    with pytest.raises(UsageError, match="Did you mean 'int8_io'"):
        PRECISIONS.get("int8_oi")


def test_a_plan_with_a_mistyped_mode_fails_when_read():
    with pytest.raises(ConfigError, match="Did you mean .int8_io."):
        parse_plan({"stages": [{"stage": "train"}, {"stage": "quantize", "modes": ["int8_oi"]}]})


def test_int8_mixed_has_its_own_rule():
    """It used to fall back to int8's threshold silently; now a rule of its own, no looser than int8's."""
    mixed, int8 = PRECISIONS.get("int8_mixed").parity, PRECISIONS.get("int8").parity
    assert mixed != int8
    assert mixed.min_top1_agreement >= int8.min_top1_agreement
    assert mixed.max_rel_mean_abs_diff <= int8.max_rel_mean_abs_diff


def test_float_exports_must_match_and_quantized_ones_are_judged_by_accuracy():
    for name in PRECISIONS.names():
        rule = PRECISIONS.get(name).parity
        quantized = name not in ("float32", "float16")
        assert (rule.max_accuracy_drop_points is not None) == quantized, name
    assert PRECISIONS.get("float32").parity.failure_is_error
    assert not PRECISIONS.get("int8").parity.failure_is_error
