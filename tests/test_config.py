import pytest

from edgecomp.config import load_plan, parse_plan
from edgecomp.errors import ConfigError, UsageError


def test_default_plan_is_the_studys_chain():
    """teacher -> KD into a zoo student -> prune -> QAT int8 (the chain the study found best)."""
    plan = parse_plan({})
    assert [stage.stage for stage in plan.stages] == ["train", "distill", "prune", "qat"]
    assert plan.stages[1].method == "kd" and plan.stages[1].student == "cnn-assistant"
    assert plan.stages[2].method == "global"


def test_ptq_only_plan_validates():
    from edgecomp.config import PTQ_ONLY_STAGES

    plan = parse_plan({"stages": PTQ_ONLY_STAGES})
    assert [stage.stage for stage in plan.stages] == ["train", "quantize"]


def test_unknown_top_level_key_gets_did_you_mean():
    with pytest.raises(ConfigError, match="unknown key 'datset'; did you mean 'dataset'"):
        parse_plan({"datset": {"name": "mnist"}})


def test_unknown_stage_setting_gets_did_you_mean():
    with pytest.raises(ConfigError, match="unknown key 'epoch'; did you mean 'epochs'"):
        parse_plan({"stages": [{"stage": "train", "epoch": 3}]})


def test_unknown_stage_name_gets_did_you_mean():
    with pytest.raises(UsageError, match="Did you mean 'quantize'"):
        parse_plan({"stages": [{"stage": "quantise"}]})


def test_out_of_range_value_is_rejected():
    with pytest.raises(ConfigError, match="dataset.val_fraction"):
        parse_plan({"dataset": {"val_fraction": 1.5}})


def test_plan_file_must_exist_and_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_plan(tmp_path / "missing.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_plan(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("stages: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_plan(broken)
