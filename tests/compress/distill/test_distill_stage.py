"""The distill stage end to end on the small real Fashion-MNIST subset (1 epoch, tiny models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecomp.compress.context import RunContext
from edgecomp.compress.distill.base import check_compatible
from edgecomp.compress.distill.stage import METHODS, run_distill
from edgecomp.compress.fitting import compile_wrapper
from edgecomp.core.errors import ConfigError, EdgecompError, UsageError
from edgecomp.plan.plan import parse_plan
from edgecomp.plan.stage_settings import MIXUP_UNSUPPORTED

# One small configuration per registered method: a method added without one fails
# test_every_method_has_a_smoke_config. "base" is the model the stage starts from. A student that
# starts from scratch and learns from the tiny teacher's soft targets needs two epochs at a higher
# learning rate to be clearly better than chance (one epoch at the default 2e-3: 19% on the test split).
SMOKE = {
    "kd": {"base": "teacher", "settings": {"student": "cnn-tiny", "epochs": 2, "batch_size": 64,
                                           "learning_rate": 5e-3}},
    "takd": {"base": "teacher", "settings": {"assistants": ["cnn-student"], "student": "cnn-tiny",
                                             "epochs": 2, "batch_size": 64, "learning_rate": 5e-3}},
    "byot": {"base": "cnn-student", "settings": {"epochs": 1, "batch_size": 64}},
    "dlb": {"base": "cnn-tiny", "settings": {"epochs": 1, "batch_size": 64}},
}


def make_ctx(data, model, stage: dict, tmp_path: Path) -> RunContext:
    plan = parse_plan({"model": "cnn-student", "stages": [stage]})
    return RunContext(plan=plan, data=data, run_dir=tmp_path, model=model)


def fresh(name, data):
    from edgecomp.core.tfenv import seed_everything
    from edgecomp.models.zoo import build_zoo_model

    seed_everything(0)
    return build_zoo_model(name, data.input_shape, data.num_classes)


def test_every_method_has_a_smoke_config():
    assert set(SMOKE) == set(METHODS.names())


def accuracy_on_test_split(model, data) -> float:
    """Top-1 accuracy of a Keras model on the dataset's test split."""
    logits = model.predict(data.images("test"), verbose=0)  # (N, K)
    return float(np.mean(logits.argmax(-1) == data.labels("test")))


@pytest.mark.parametrize("method", METHODS.names())
def test_method_trains_on_the_augmented_batches_the_plan_asks_for(method, fmnist_small, recording_model,
                                                                  recorded_batches, raw_batch_check, tmp_path):
    """Beyer et al.'s recipe when a plan asks for it: flipped, shifted (and mixed, where the method
    allows mixup) training batches. The model the stage starts from records every batch it is called
    on (the teacher of kd/takd, the trained network itself for byot/dlb): at least an epoch's worth of
    them are none of the dataset's images. The BatchNorm and validation passes of byot/dlb see raw images."""
    small = fmnist_small.with_train(fmnist_small.pixels("train", 512), fmnist_small.labels("train", 512))
    base = recording_model("base", small.input_shape, small.num_classes)
    mixup = 0 if method in MIXUP_UNSUPPORTED else 0.2
    settings = {**SMOKE[method]["settings"], "epochs": 1, "augment": {"flip": True, "shift": 0.1, "mixup": mixup}}
    ctx = make_ctx(small, base, {"stage": "distill", "method": method, **settings}, tmp_path)
    info = run_distill(ctx, ctx.plan.stages[0])
    assert info["settings"]["augment"]["shift"] == 0.1 and info["settings"]["augment"]["mixup"] == mixup
    raw_images = np.concatenate([small.images("train"), small.images("val")])  # validation batches are raw too
    augmented = [images for images, _ in recorded_batches["base_inputs"] if not raw_batch_check(images, raw_images)]
    assert len(augmented) >= small.count("train") // settings["batch_size"], len(recorded_batches["base_inputs"])
    if method in ("kd", "takd"):
        assert info["settings"]["teacher_logits"] == "on_the_fly"
    assert ctx.model.output_shape == (None, small.num_classes)


@pytest.mark.parametrize("method", METHODS.names())
def test_method_learns_and_leaves_an_exportable_model(method, fmnist_small, tiny_model, tmp_path):
    """A short training on 2,000 real images: the distilled network is far more accurate than an
    untrained one of its architecture (a method that returned its student untouched would fail), and
    its float32 .tflite gives the Keras model's outputs."""
    from edgecomp.exporters.parity import run_tflite
    from edgecomp.exporters.tflite import keras_to_tflite

    smoke = SMOKE[method]
    base = tiny_model if smoke["base"] == "teacher" else fresh(smoke["base"], fmnist_small)
    trained_architecture = smoke["settings"].get("student", smoke["base"])
    untrained = accuracy_on_test_split(fresh(trained_architecture, fmnist_small), fmnist_small)
    ctx = make_ctx(fmnist_small, base, {"stage": "distill", "method": method, **smoke["settings"]}, tmp_path)
    info = run_distill(ctx, ctx.plan.stages[0])
    assert info["method"] == method and info["settings"]["method"] == method
    distilled = accuracy_on_test_split(ctx.model, fmnist_small)
    print(f"{method}: untrained {untrained:.3f}, distilled {distilled:.3f}")
    assert distilled > untrained + 0.25, (untrained, distilled)
    assert ctx.model.output_shape == (None, fmnist_small.num_classes)
    path = keras_to_tflite(ctx.model, tmp_path / "model.tflite", "float32")
    keras_logits = ctx.model.predict(fmnist_small.images("test", 20), verbose=0)
    np.testing.assert_allclose(run_tflite(path, fmnist_small.images("test", 20)), keras_logits, atol=1e-3)
    if method == "takd":
        assert info["chain"] == ["cnn-student", "cnn-tiny"]
        assert ctx.model.count_params() == fresh("cnn-tiny", fmnist_small).count_params()


def test_dlb_learns_from_the_previous_steps_predictions(fmnist_small):
    """Fails if the stored targets were the current step's predictions (the KL would be 0)."""
    from edgecomp.compress.distill.dlb import dlb_classes
    from edgecomp.core.tfenv import tf

    temperature, half = 1.0, 4
    model = fresh("cnn-tiny", fmnist_small)
    trainer = dlb_classes()[0](model, half, temperature, 1.0)
    compile_wrapper(trainer, 0.05, 10)
    x, y = fmnist_small.images("train", 12), fmnist_small.labels("train", 12)
    x1, y1 = x[:8], y[:8]
    x2, y2 = np.concatenate([x1[half:], x[8:12]]), np.concatenate([y1[half:], y[8:12]])

    before_step1 = tf().nn.softmax(model(x1, training=True)[half:] / temperature).numpy()  # (h, K)
    trainer.train_step((x1, y1))
    np.testing.assert_allclose(trainer.prev_batch_soft_targets.numpy(), before_step1, atol=1e-5)

    current = model(x2, training=True).numpy()[:half] / temperature  # weights after step 1
    log_current = current - np.log(np.exp(current).sum(-1, keepdims=True))
    expected_kl = float(np.mean(np.sum(before_step1 * (np.log(before_step1) - log_current), -1)))
    trainer.reset_metrics()
    kl = float(trainer.train_step((x2, y2))["kl"])
    assert expected_kl > 1e-5
    assert kl == pytest.approx(expected_kl, rel=1e-3)


@pytest.mark.slow
def test_byot_keeps_the_plain_network_or_a_genuinely_smaller_truncation(fmnist_small, tmp_path):
    plain = fresh("cnn-student", fmnist_small)
    plain_params = plain.count_params()
    ctx = make_ctx(fmnist_small, plain, {"stage": "distill", "method": "byot", "epochs": 1}, tmp_path)
    run_distill(ctx, ctx.plan.stages[0])
    assert ctx.model is plain and ctx.model.count_params() == plain_params
    assert not any(layer.name.startswith("byot_") for layer in ctx.model.layers)

    for k, exit_layer in [(1, "stage1_pool"), (2, "stage2_pool")]:
        model = fresh("cnn-student", fmnist_small)
        backbone = []
        for layer in model.layers:
            backbone.append(layer)
            if layer.name == exit_layer:
                break
        ctx = make_ctx(fmnist_small, model, {"stage": "distill", "method": "byot", "epochs": 1, "exit": k}, tmp_path)
        run_distill(ctx, ctx.plan.stages[0])
        head = [layer for layer in ctx.model.layers if layer.name.startswith(f"byot_exit{k}_")]
        assert {layer.name for layer in ctx.model.layers} == {layer.name for layer in backbone + head}
        assert ctx.model.count_params() == sum(layer.count_params() for layer in backbone + head)
        assert ctx.model.count_params() < plain_params


def test_byot_works_on_a_user_functional_model(fmnist_small, tmp_path):
    from edgecomp.core.tfenv import keras

    layers = keras().layers
    inputs = keras().Input((28, 28, 1))
    x = layers.MaxPooling2D(name="down_a")(layers.Conv2D(4, 3, padding="same", activation="relu")(inputs))
    x = layers.MaxPooling2D(name="down_b")(layers.Conv2D(8, 3, padding="same", activation="relu")(x))
    outputs = layers.Dense(10)(layers.Dense(16, activation="relu")(layers.Flatten()(x)))
    model = keras().Model(inputs, outputs, name="user_net")
    ctx = make_ctx(fmnist_small, model, {"stage": "distill", "method": "byot", "epochs": 1}, tmp_path)
    info = run_distill(ctx, ctx.plan.stages[0])
    assert info["exits"] == ["down_a"]
    assert ctx.model.count_params() == model.count_params()


@pytest.mark.parametrize("stage,message", [
    ({"method": "kdd"}, "Did you mean 'kd'"),
    ({"method": "kd", "temperature": 0}, "temperature"),
    ({"method": "dlb", "temperature": -1}, "temperature"),
    ({"method": "kd", "alpha": 1.5}, "alpha"),
    ({"method": "dlb", "alpha": -0.1}, "alpha"),
    ({"method": "kd", "exits": ["stage1_pool"]}, "does not use exits"),
    ({"method": "byot", "student": "cnn-tiny"}, "does not use student"),
    ({"method": "dlb", "attention": False}, "does not use attention"),
])
def test_bad_settings_are_rejected_when_the_plan_is_read(stage, message):
    with pytest.raises((ConfigError, UsageError), match=message):
        parse_plan({"model": "cnn-teacher", "stages": [{"stage": "train"}, {"stage": "distill", **stage}]})


def test_byot_lambda_is_accepted_as_yaml_key():
    plan = parse_plan({"stages": [{"stage": "distill", "method": "byot", "lambda": 0.1}]})
    assert plan.stages[0].hint_weight == 0.1


@pytest.mark.parametrize("settings,message", [
    ({"exit": 5}, "out of range"),
    ({"exits": ["stage1_pol"]}, "Did you mean 'stage1_pool'"),
    ({"exits": ["logits"]}, "feature map"),
])
def test_byot_bad_exits_fail_before_training(settings, message, fmnist_small, tmp_path):
    model = fresh("cnn-tiny", fmnist_small)
    weights = [w.copy() for w in model.get_weights()]
    ctx = make_ctx(fmnist_small, model, {"stage": "distill", "method": "byot", **settings}, tmp_path)
    with pytest.raises(UsageError, match=message):
        run_distill(ctx, ctx.plan.stages[0])
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))


def test_student_for_other_images_fails_before_training(fmnist_small, tiny_model, tmp_path):
    from edgecomp.models.zoo import build_zoo_model

    path = tmp_path / "cifar_student.keras"
    build_zoo_model("cnn-tiny", (32, 32, 3), 10).save(path)
    ctx = make_ctx(fmnist_small, tiny_model, {"stage": "distill", "method": "kd", "student": str(path)}, tmp_path)
    with pytest.raises(EdgecompError, match=r"\(32, 32, 3\)"):
        run_distill(ctx, ctx.plan.stages[0])
    assert ctx.model is tiny_model


def test_student_with_other_classes_is_rejected(fmnist_small, tiny_model):
    from edgecomp.models.zoo import build_zoo_model

    with pytest.raises(UsageError, match="5 classes"):
        check_compatible(build_zoo_model("cnn-tiny", (28, 28, 1), 5), tiny_model)
    with pytest.raises(UsageError, match="inputs of shape"):
        check_compatible(build_zoo_model("cnn-tiny", (32, 32, 3), 10), tiny_model)


def test_teacher_with_softmax_output_is_rejected(fmnist_small, tmp_path):
    from edgecomp.core.tfenv import keras

    inputs = keras().Input((28, 28, 1))
    model = keras().Model(inputs, keras().layers.Dense(10, activation="softmax")(keras().layers.Flatten()(inputs)))
    ctx = make_ctx(fmnist_small, model, {"stage": "distill", "method": "kd"}, tmp_path)
    with pytest.raises(UsageError, match="softmax"):
        run_distill(ctx, ctx.plan.stages[0])


def test_distill_composes_with_later_stages_in_a_plan():
    plan = parse_plan({"model": "cnn-teacher", "stages": [
        {"stage": "train"}, {"stage": "distill", "method": "kd", "student": "cnn-student"}, {"stage": "quantize"}]})
    assert [s.stage for s in plan.stages] == ["train", "distill", "quantize"]
