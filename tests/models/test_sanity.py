"""Sanity checks that speak up (edgecomp.models.sanity), on real models and real Fashion-MNIST images:
a model trained on raw 0..255 pixels fed x/255, a model that rescales its input itself, a softmax
output, a class count that disagrees with the data."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgecomp.cli.main import app
from edgecomp.models import sanity

runner = CliRunner()
PTQ_PLAN = """
stages:
  - {{stage: train, epochs: 0}}
  - {{stage: quantize, modes: [int8], calibration_samples: 100}}
dataset: {{name: fashion_mnist, train_limit: 600, test_limit: 300, normalization: {normalization}}}
export: {{parity_samples: 100, formats: [tflite]}}
bench: {{warmup: 2, min_runs: 10, min_time_s: 0, accuracy_samples: 100}}
"""
FINE_TUNE_PLAN = PTQ_PLAN.replace("{{stage: train, epochs: 0}}", "{{stage: train, epochs: 1, batch_size: 64}}")


def _fmnist(normalization: str):
    from edgecomp.data.dataset import load_dataset

    return load_dataset("fashion_mnist", train_limit=600, test_limit=300, seed=0, normalization=normalization)


@pytest.fixture(scope="module")
def raw_trained(tmp_path_factory):
    """cnn-tiny trained 3 epochs on 600 raw 0..255 Fashion-MNIST images (normalization `raw`), BN
    statistics re-estimated as edgecomp's training does; saved as a tf-keras `.keras` file.

    Alone this reaches ~60% test accuracy with seed 0, but one whole-suite run (a fresh clone, CI's
    order) got ~21% with the same seed, near the artifact near-chance limit: some earlier test leaves
    state that changes training (not found yet). The checks under test need a model that learnt,
    so the next seed is tried (at most 3) until it scores >= 40%, and the fixture fails saying so."""
    from edgecomp.compress.bn_stats import reestimate_bn_statistics
    from edgecomp.compress.fitting import fit
    from edgecomp.core.tfenv import seed_everything
    from edgecomp.data.pipeline import predict
    from edgecomp.models.zoo import build_zoo_model

    raw = _fmnist("raw")
    scores = []
    for seed in range(3):
        seed_everything(seed)
        model = build_zoo_model("cnn-tiny", raw.input_shape, raw.num_classes)
        fit(model, raw, epochs=3, batch_size=32, learning_rate=1e-2, label="raw", seed=seed)
        reestimate_bn_statistics(model, raw)
        scores.append(float(np.mean(predict(model, raw, "test").argmax(-1) == raw.labels("test"))))
        if scores[-1] >= 0.4:
            path = tmp_path_factory.mktemp("raw_model") / "raw_trained.keras"
            model.save(path)
            return model, path
    pytest.fail(f"the raw-pixel model did not learn (test accuracy per seed: {scores}); the sanity checks need one")


def small_tf_keras_cnn(first_layers=(), head_activation=None, classes=10, name="user_cnn"):
    """A small tf-keras CNN (untrained) with optional leading layers and a final activation."""
    from edgecomp.core.tfenv import keras

    layers = keras().layers
    inputs = keras().Input((28, 28, 1))
    x = inputs
    for layer in first_layers:
        x = layer(x)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras().Model(inputs, layers.Dense(classes, activation=head_activation)(x), name=name)


def _build(tmp_path, model_path, plan_text, exit_code=0):
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"name: user\nmodel: {model_path}\n" + plan_text)
    result = runner.invoke(app, ["build", "--config", str(plan), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == exit_code, result.output[-3000:]
    return result


def test_near_chance_limit_is_one_and_a_half_times_chance_capped_at_ten_points():
    assert sanity.near_chance_limit(np.arange(100) % 10, 10) == pytest.approx((0.1, 0.15))
    assert sanity.near_chance_limit(np.arange(100) % 2, 2) == pytest.approx((0.5, 0.6))
    # Chance is what always predicting the most common label scores, not 1/K, on an unbalanced subset.
    assert sanity.near_chance_limit(np.array([0] * 30 + [1] * 70), 10) == pytest.approx((0.7, 0.8))


def test_bn_check_flags_a_raw_pixel_model_under_unit_and_not_under_raw(raw_trained):
    model, _ = raw_trained
    unit, raw = _fmnist("unit"), _fmnist("raw")
    under_unit = sanity.check_bn_statistics(model, unit, sanity.normalization_fit(model, unit))
    assert under_unit is not None and under_unit.code == "input_statistics"
    assert "`dataset.normalization: raw`" in under_unit.hint and "dataset.normalization: unit`" in under_unit.message
    assert sanity.check_bn_statistics(model, raw, sanity.normalization_fit(model, raw)) is None
    # The same model is useful under the normalization it was trained with, at chance under the other.
    assert sanity.check_accuracy(model, raw, user_model=True) is None
    near_chance = sanity.check_accuracy(model, unit, user_model=True, expected=lambda: "raw")
    assert near_chance is not None and "`dataset.normalization` is `unit`" in near_chance.hint


def test_untrained_batchnorm_layers_are_skipped():
    from edgecomp.core.tfenv import keras

    model = small_tf_keras_cnn([keras().layers.BatchNormalization()])  # moving mean 0, variance 1
    assert sanity.normalization_fit(model, _fmnist("unit")) is None


def test_a_model_that_rescales_its_input_warns_unless_normalization_is_raw():
    from edgecomp.core.tfenv import keras
    from edgecomp.data.normalization import parse_normalization

    rescaling = small_tf_keras_cnn([keras().layers.Rescaling(1 / 255.0)])
    warning = sanity.check_input_rescaling(rescaling, parse_normalization("unit"))
    assert warning.code == "input_scaled_twice" and "`dataset.normalization: raw`" in warning.hint
    assert sanity.check_input_rescaling(rescaling, parse_normalization("raw")) is None
    # A Rescaling made for [0, 1] inputs (to [-1, 1]) is not a second pixel scaling.
    to_symmetric = small_tf_keras_cnn([keras().layers.Rescaling(2.0, offset=-1.0)])
    assert sanity.check_input_rescaling(to_symmetric, parse_normalization("unit")) is None


def test_probability_rows_are_found_without_a_softmax_last_layer(fmnist_small, tiny_model):
    from edgecomp.core.tfenv import keras

    layers = keras().layers
    hidden = layers.Reshape((10,))(layers.Softmax()(tiny_model.output))  # the last layer is a Reshape
    probabilities = keras().Model(tiny_model.input, hidden)
    images = fmnist_small.images("test", 64)
    assert "sums to 1" in sanity.probability_output_reason(probabilities, images)
    assert sanity.probability_output_reason(tiny_model, images) is None


def test_a_near_chance_model_stops_before_compression_with_exit_2_and_the_report(raw_trained, tmp_path):
    """A raw-pixel model fed x/255 is at chance: the build stops before the quantize stage, exit 2,
    with the hint on the terminal and the report (warnings, no artifacts) written."""
    _, path = raw_trained
    result = _build(tmp_path, path, PTQ_PLAN.format(normalization="unit"), exit_code=2)
    assert "the build stops before compression" in result.output and "sanity: warn" in result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["stopped"]["before_stage"] == "quantize" and report["artifacts"] == []
    assert [stage["stage"] for stage in report["stages"]] == ["train"]
    assert "**Stopped before the quantize stage**" in (tmp_path / "run" / "report.md").read_text()
    assert not (tmp_path / "run" / "artifacts").exists()


@pytest.mark.slow
def test_build_of_a_raw_pixel_model_under_unit_warns_in_every_report(raw_trained, tmp_path):
    """With `sanity: warn` the same build goes on, every report carrying the warnings."""
    _, path = raw_trained
    result = _build(tmp_path, path, "sanity: warn\n" + PTQ_PLAN.format(normalization="unit"))
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert "stopped" not in report and report["artifacts"]
    codes = {w["code"]: w for w in report["warnings"]}
    assert {"near_chance", "input_statistics"} <= set(codes), report["warnings"]
    assert "`raw`" in codes["near_chance"]["hint"] and "dataset.normalization" in codes["near_chance"]["hint"]
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert "## Warnings" in markdown and "**near_chance**" in markdown and "dataset.normalization" in markdown
    assert "<h2>Warnings</h2>" in (tmp_path / "run" / "report.html").read_text()
    assert "warning (near_chance)" in result.output  # printed on the terminal when found


@pytest.mark.slow
def test_build_of_the_same_model_under_raw_has_no_warnings(raw_trained, tmp_path):
    _, path = raw_trained
    _build(tmp_path, path, PTQ_PLAN.format(normalization="raw"))
    assert json.loads((tmp_path / "run" / "report.json").read_text())["warnings"] == []


@pytest.fixture()
def softmax_model_file(raw_trained, tmp_path):
    """The raw-pixel model with a final softmax."""
    from edgecomp.core.tfenv import keras

    model, _ = raw_trained
    probabilities = keras().Model(model.input, keras().layers.Softmax(name="probabilities")(model.output))
    path = tmp_path / "softmax.keras"
    probabilities.save(path)
    return path


def _probabilities_of(tflite_path, images):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.resize_tensor_input(0, images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images.astype(np.float32))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.mark.slow
def test_softmax_model_in_a_ptq_only_plan_keeps_its_probabilities(softmax_model_file, tmp_path):
    result = _build(tmp_path, softmax_model_file, PTQ_PLAN.format(normalization="raw"))
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["warnings"] == []  # taken off and put back: nothing for the user to fix
    assert report["stages"][0]["info"]["output_head"]["layer"] == "probabilities"
    assert "trained on its logits" in result.output
    for artifact in report["artifacts"]:
        assert artifact["status"] == "ok" and artifact["outputs"] == "probabilities", artifact
    card = json.loads((tmp_path / "run" / "artifacts" / "model_float32.tflite.json").read_text())
    assert card["output"]["meaning"].startswith("probabilities")


@pytest.mark.slow
def test_softmax_model_in_a_fine_tuning_plan_trains_on_its_logits(softmax_model_file, tmp_path):
    _build(tmp_path, softmax_model_file, FINE_TUNE_PLAN.format(normalization="raw"))
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["stages"][0]["info"]["output_head"]["trained_on"] == "logits"
    pixels = _fmnist("raw").images("test", 100)
    for artifact in report["artifacts"]:
        probabilities = _probabilities_of(tmp_path / "run" / artifact["path"], pixels)
        assert (probabilities >= 0).all()
        np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=0.02)  # int8 rounds each to 1/256
    assert report["keras"]["accuracy"] > 0.4  # fine-tuned on logits, not on softmax(softmax(.))


def test_a_softmax_edgecomp_cannot_take_off_still_stops_a_fine_tuning_plan(tiny_model, tmp_path):
    from edgecomp.core.tfenv import keras

    layers = keras().layers
    hidden = layers.Reshape((10,))(layers.Softmax()(tiny_model.output))  # the last layer is a Reshape
    path = tmp_path / "hidden_softmax.keras"
    keras().Model(tiny_model.input, hidden).save(path)
    result = _build(tmp_path, path, FINE_TUNE_PLAN.format(normalization="unit"), exit_code=2)
    assert "keras.Model(model.input, pre_softmax_tensor)" in result.output and "train (epochs 1)" in result.output
    assert not (tmp_path / "run" / "report.json").exists()


def test_class_count_mismatch_names_the_settings_to_change(tmp_path):
    path = tmp_path / "five.keras"
    small_tf_keras_cnn(classes=5).save(path)
    result = _build(tmp_path, path, PTQ_PLAN.format(normalization="unit"), exit_code=1)
    assert "10 classes but model user_cnn outputs 5" in result.output
    assert "dataset.name" in result.output and "last Dense layer with 10 units" in result.output


def test_artifact_near_chance_warns_only_when_the_trained_model_did_not():
    labels = np.arange(100) % 10
    report = {"warnings": [], "artifacts": [{"name": "model_int8.tflite", "accuracy": 0.11, "accuracy_samples": 100},
                                            {"name": "model_float32.tflite", "accuracy": 0.85, "accuracy_samples": 100},
                                            {"name": "broken.onnx", "accuracy": None, "accuracy_samples": None}]}
    [warning] = sanity.artifact_warnings(report, labels, 10)
    assert warning.code == "artifact_near_chance" and "model_int8.tflite 11.0%" in warning.message
    assert "model_float32" not in warning.message
    report["warnings"] = [{"code": "near_chance", "message": "", "hint": ""}]
    assert sanity.artifact_warnings(report, labels, 10) == []
