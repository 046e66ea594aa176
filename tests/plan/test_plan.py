import pytest

from edgecomp.core.errors import ConfigError, UsageError
from edgecomp.plan.plan import load_plan, parse_plan


def test_default_plan_is_the_studys_chain():
    """teacher -> KD into a zoo student -> prune -> QAT int8 (the chain the study found best)."""
    plan = parse_plan({})
    assert [stage.stage for stage in plan.stages] == ["train", "distill", "prune", "qat"]
    assert plan.stages[1].method == "kd" and plan.stages[1].student == "cnn-assistant"
    assert plan.stages[2].method == "global"


def test_ptq_only_plan_validates():
    from edgecomp.plan.plan import PTQ_ONLY_STAGES

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


def test_fast_preset_is_the_stage_defaults():
    """The default plan (preset fast): distill 8, prune 2, QAT 2 epochs on labels, no augmentation, cached logits."""
    plan = parse_plan({})
    assert plan.preset == "fast"
    distill, prune, qat = plan.stages[1:]
    assert (distill.epochs, prune.epochs, qat.epochs) == (8, 2, 2) and not (prune.teacher_kd or qat.teacher_kd)
    assert not any(stage.augment.enabled for stage in plan.stages)
    assert distill.resolved().teacher_logits == "cached"


def test_quality_preset_fills_unset_settings_and_keeps_the_plans_own():
    plan = parse_plan({"preset": "quality", "stages": [
        {"stage": "train"},
        {"stage": "distill", "method": "kd", "student": "cnn-student"},
        {"stage": "prune", "method": "global", "epochs": 1},
        {"stage": "qat", "augment": {"shift": 2}, "teacher_kd": True},
    ]})
    train, distill, prune, qat = plan.stages
    assert train.epochs == 10  # the teacher's training is left alone
    assert distill.epochs == 24 and not distill.augment.enabled and distill.resolved().teacher_logits == "cached"
    assert prune.epochs == 1 and not prune.teacher_kd  # the plan's own value wins
    assert qat.epochs == 4 and qat.augment.shift == 2 and qat.teacher_kd


@pytest.mark.parametrize("method", ["byot", "dlb", "takd"])
def test_quality_preset_applies_to_every_distillation_method(method):
    plan = parse_plan({"preset": "quality", "stages": [{"stage": "train"}, {"stage": "distill", "method": method}]})
    assert plan.stages[1].epochs == 24


def test_unknown_preset_is_rejected():
    with pytest.raises(ConfigError, match="preset"):
        parse_plan({"preset": "slow"})


def test_build_preset_flag_overrides_the_plan(tmp_path):
    from edgecomp.api.plans import resolve_plan

    config = tmp_path / "plan.yaml"
    config.write_text("preset: fast\n")
    plan = resolve_plan(config, preset="quality")
    assert plan.preset == "quality" and plan.stages[1].epochs == 24


def test_a_model_file_is_not_retrained_unless_the_plan_asks(tmp_path):
    """The rule lives in the plan: a YAML plan naming a model file and `--model` on the command line
    resolve to the same plan, whose train stage loads the model as is (epochs 0)."""
    from edgecomp.cli.build import plan_from_options

    model = str(tmp_path / "mine.keras")
    config = tmp_path / "plan.yaml"
    config.write_text(f"model: {model}\n")
    from_yaml = plan_from_options(config, None, None, None, None, None)
    from_flags = plan_from_options(None, model, None, None, None, None)
    assert from_yaml.stages[0].stage == "train" and from_yaml.stages[0].epochs == 0
    assert from_yaml.model_dump() == from_flags.model_dump()
    assert load_plan(config).model_dump() == from_yaml.model_dump()
    # A plan that lists a bare train stage (no epochs) also loads the model as is.
    listed = parse_plan({"model": model, "stages": [{"stage": "train"}, {"stage": "quantize"}]})
    assert listed.stages[0].epochs == 0


def test_a_model_file_is_fine_tuned_when_the_plan_or_a_flag_sets_epochs(tmp_path):
    from edgecomp.cli.build import plan_from_options

    model = str(tmp_path / "mine.keras")
    assert parse_plan({"model": model, "stages": [{"stage": "train", "epochs": 3}]}).stages[0].epochs == 3
    assert plan_from_options(None, model, None, 2, None, None).stages[0].epochs == 2
    assert parse_plan({}).stages[0].epochs == 10  # a zoo model is trained: the stage default
