"""`student: auto`: a user's model is distilled into a narrower copy of its own architecture."""

from __future__ import annotations

import numpy as np
import pytest

from edgecomp.compress.context import RunContext
from edgecomp.compress.distill.auto_student import narrow_teacher
from edgecomp.compress.distill.stage import run_distill
from edgecomp.core.errors import ConfigError
from edgecomp.plan.plan import parse_plan


def residual_cnn(data):
    """A tf-keras CNN this project did not design: BN, a depthwise conv, a residual Add, Flatten, logits out."""
    from edgecomp.core.tfenv import keras, seed_everything

    seed_everything(0)
    layers = keras().layers
    inputs = keras().Input(data.input_shape)
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    y = layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = layers.Conv2D(16, 1, activation="relu", name="project")(y)
    x = layers.MaxPooling2D()(layers.Add(name="residual")([x, y]))
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="wide")(x)
    x = layers.Dense(24, activation="relu", name="hidden")(layers.Flatten()(layers.MaxPooling2D()(x)))
    return keras().Model(inputs, layers.Dense(data.num_classes, name="logits")(x), name="user_cnn")


def distill_stages(plan_data: dict) -> list:
    return [stage for stage in parse_plan(plan_data).stages if stage.stage == "distill"]


def test_the_default_plan_distils_a_model_file_into_auto_and_the_zoo_teacher_into_the_zoo(tmp_path):
    (file_stage,) = distill_stages({"model": str(tmp_path / "mine.keras")})
    assert file_stage.student is None
    resolved = file_stage.resolved(model_is_file=True)
    assert resolved.student == "auto" and resolved.width == 0.5
    (zoo_stage,) = distill_stages({})
    assert zoo_stage.resolved().student == "cnn-assistant"
    # An explicit plan without a student: auto for a file, the zoo's cnn-student for a zoo teacher.
    kd = {"stages": [{"stage": "distill", "method": "kd"}]}
    assert distill_stages(kd)[0].resolved(model_is_file=False).student == "cnn-student"
    assert distill_stages(kd)[0].resolved(model_is_file=True).student == "auto"


@pytest.mark.parametrize("stage, words", [
    ({"stage": "distill", "student": "cnn-tiny", "width": 0.5}, "drop width or use student: auto"),
    ({"stage": "distill", "method": "takd", "student": "auto"}, "student: auto is for method kd"),
    ({"stage": "distill", "student": "auto", "width": 0}, "width"),
])
def test_width_and_auto_are_refused_where_they_mean_nothing(stage, words):
    with pytest.raises(ConfigError, match=words):
        parse_plan({"stages": [stage]})


def test_narrowed_teacher_keeps_its_ops_and_its_strongest_filters(fmnist_small):
    teacher = residual_cnn(fmnist_small)
    student, info = narrow_teacher(teacher, fmnist_small, 0.5)

    assert [type(layer).__name__ for layer in student.layers] == [type(layer).__name__ for layer in teacher.layers]
    assert student.input_shape == teacher.input_shape and student.output_shape == teacher.output_shape
    # The stem and the classifier stay whole (the prune stage's defaults); the stem's channels also
    # meet `project`'s at the residual Add, so the pair stays whole together.
    assert info["skipped_layers"] == ["stem", "logits"] and "project" in info["left_whole"]
    assert info["filters"]["wide"] == {"before": 32, "after": 16}
    assert info["filters"]["hidden"] == {"before": 24, "after": 12}
    assert info["student_params"] < 0.6 * info["teacher_params"]
    # Kept filters are the teacher's largest-L1 ones, weights copied.
    kernel = teacher.get_layer("wide").get_weights()[0]  # (3, 3, 16, 32)
    strongest = np.sort(np.argsort(-np.abs(kernel).sum((0, 1, 2)), kind="stable")[:16])
    np.testing.assert_array_equal(student.get_layer("wide").get_weights()[0], kernel[..., strongest])


@pytest.fixture(scope="module")
def trained_teacher(fmnist_small):
    from edgecomp.compress.bn_stats import reestimate_bn_statistics
    from edgecomp.compress.fitting import fit

    teacher = residual_cnn(fmnist_small)
    fit(teacher, fmnist_small, epochs=3, batch_size=64, learning_rate=1e-2, label="teacher")
    reestimate_bn_statistics(teacher, fmnist_small)
    return teacher


def accuracy_on_test(model, data) -> float:
    from edgecomp.data.pipeline import predict

    return float((predict(model, data, "test", 256).argmax(-1) == data.labels("test")).mean())


@pytest.mark.slow
def test_distill_stage_trains_the_auto_student_and_says_why(trained_teacher, fmnist_small, tmp_path):
    teacher = trained_teacher
    plan = parse_plan({"model": str(tmp_path / "user.keras"),
                       "stages": [{"stage": "distill", "epochs": 1, "batch_size": 64, "width": 0.5}]})
    ctx = RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path, model=teacher)
    before = ctx.model.get_layer("hidden").get_weights()[0].copy()

    info = run_distill(ctx, plan.stages[0])

    assert info["student_choice"] == "student auto: the default for a user model file"
    assert info["settings"]["student"] == "auto" and info["settings"]["width"] == 0.5
    assert info["auto_student"]["filters"]["hidden"] == {"before": 24, "after": 12}
    assert ctx.model.name == "user_cnn_width0.5"
    assert ctx.model.count_params() == info["auto_student"]["student_params"]
    # Learnt from the teacher (BN statistics re-estimated by the stage): well above chance (10%, 10 classes).
    # One epoch on 512 images: 0.37 to 0.6 depending on what ran before in the worker, so the bound is 0.25.
    assert accuracy_on_test(ctx.model, fmnist_small) > 0.25
    assert not np.array_equal(ctx.model.get_layer("hidden").get_weights()[0], before[:, :12])


@pytest.mark.parametrize("stage, words", [
    ({"stage": "distill", "width": 0.5, "max_drop": 1}, "max_drop bounds the accuracy a `width: auto` student"),
    ({"stage": "distill", "width": 1.5}, r"width 1.5 is a fraction .* \(0, 1\], or auto"),
    ({"stage": "distill", "width": "narrow"}, "width"),
])
def test_max_drop_belongs_to_width_auto_and_a_width_is_a_fraction_or_auto(stage, words):
    with pytest.raises(ConfigError, match=words):
        parse_plan({"stages": [stage]})
    (ok,) = distill_stages({"stages": [{"stage": "distill", "width": "auto", "max_drop": 2}]})
    assert ok.width == "auto" and ok.max_drop == 2 and ok.resolved(model_is_file=True).width == "auto"


@pytest.mark.parametrize("max_drop", [100, pytest.param(0, marks=pytest.mark.slow)])
def test_width_auto_distils_the_narrowest_width_whose_probe_keeps_the_teachers_accuracy(
        trained_teacher, fmnist_small, tmp_path, max_drop):
    """Each width, wide to narrow, is probed for a fifth of the epochs; the probes stop at the first width
    beyond max_drop; the narrowest within it is distilled. max_drop 100: every width passes, the
    narrowest wins; max_drop 0: a probe must match the teacher outright."""
    from edgecomp.plan.stage_settings import AUTO_WIDTHS

    plan = parse_plan({"model": str(tmp_path / "user.keras"), "stages": [
        {"stage": "distill", "epochs": 5, "batch_size": 64, "width": "auto", "max_drop": max_drop}]})
    ctx = RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path, model=trained_teacher)

    info = run_distill(ctx, plan.stages[0])

    search = info["auto_width"]
    tried = search["tried"]
    assert search["probe_epochs"] == 1 and search["max_drop"] == max_drop
    assert [t["width"] for t in tried] == list(AUTO_WIDTHS[:len(tried)])  # wide to narrow, none skipped
    for t in tried:  # each probe measured against the teacher's validation accuracy
        assert 0 < t["val_accuracy"] <= 1
        assert t["drop_points"] == pytest.approx(100 * (search["teacher_val_accuracy"] - t["val_accuracy"]), abs=1e-3)
        assert t["within_max_drop"] == (t["drop_points"] <= max_drop)
    # The probes stop at the first width beyond max_drop (or run out of widths).
    assert all(t["within_max_drop"] for t in tried[:-1])
    within = [t["width"] for t in tried if t["within_max_drop"]]
    assert search["chosen"] == (min(within) if within else AUTO_WIDTHS[0])
    if max_drop == 100:
        assert len(tried) == len(AUTO_WIDTHS) and search["chosen"] == AUTO_WIDTHS[-1]
    # The chosen width is the student distilled for the whole schedule.
    assert info["auto_student"]["width"] == search["chosen"]
    assert ctx.model.name == f"user_cnn_width{search['chosen']:g}"
    assert len(info["history"]["loss"]) == 5


def test_a_width_without_a_student_asks_for_the_auto_student_whatever_the_teacher():
    (stage,) = distill_stages({"stages": [{"stage": "distill", "width": "auto"}]})
    assert stage.resolved(model_is_file=False).student == "auto"
    (numeric,) = distill_stages({"stages": [{"stage": "distill", "width": 0.25}]})
    assert numeric.resolved(model_is_file=False).student == "auto"
    (plain,) = distill_stages({"stages": [{"stage": "distill"}]})
    assert plain.resolved(model_is_file=False).student == "cnn-student"
