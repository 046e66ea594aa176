"""`edgecomp build --model file.keras` for Keras 3 files: the default plan (distill, prune, QAT) on a
bridged model, and a PTQ-only plan on a model the bridge cannot rebuild (converted directly)."""

import json

import pytest
from typer.testing import CliRunner

from edgecomp.cli.main import app

runner = CliRunner()
# The models here are untrained (near chance): these builds test the path through the stages, so
# the sanity stop before compression is turned into a warning.
SMALL = """
sanity: warn
dataset: {name: fashion_mnist, train_limit: 600, test_limit: 150}
export: {parity_samples: 100}
bench: {warmup: 2, min_runs: 10, min_time_s: 0, accuracy_samples: 100}
"""
# The default plan's stages for a model file (edgecomp.plan.plan.default_stages: the student is left
# unset, so it is `auto`), one epoch each.
DEFAULT_PLAN_SMALL = SMALL + """
stages:
  - {stage: train, epochs: 1, batch_size: 64}
  - {stage: distill, method: kd, epochs: 1, batch_size: 64}
  - {stage: prune, method: global, sparsity: 0.5, epochs: 1, batch_size: 64}
  - {stage: qat, epochs: 1, batch_size: 64}
"""
PTQ_PLAN_SMALL = SMALL + """
stages:
  - {stage: train, epochs: 1, batch_size: 64}
  - {stage: quantize, modes: [int8, float16], calibration_samples: 100}
"""


def keras3_cnn(activation: str = "relu"):
    """A small Keras 3 CNN with BatchNormalization, a depthwise conv and a residual Add."""
    import keras

    layers = keras.layers
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation(activation)(x)
    y = layers.DepthwiseConv2D(3, padding="same")(x)
    y = layers.Conv2D(16, 1, activation="relu")(y)
    x = layers.MaxPooling2D()(layers.Add()([x, y]))
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(32, 3, padding="same", activation="relu")(x))
    return keras.Model(inputs, layers.Dense(10)(x), name=f"keras3_cnn_{activation}")


def _build(tmp_path, model, plan_text, exit_code=0):
    path = tmp_path / "model.keras"
    model.save(path)
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"name: user\nmodel: {path}\n" + plan_text)
    result = runner.invoke(app, ["build", "--config", str(plan), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == exit_code, result.output[-3000:]
    return json.loads((tmp_path / "run" / "report.json").read_text())


@pytest.mark.slow
def test_keras3_cnn_through_the_default_plan(tmp_path):
    report = _build(tmp_path, keras3_cnn(), DEFAULT_PLAN_SMALL)
    train = report["stages"][0]["info"]
    assert train["keras_version"].split(".")[0] == "3"
    assert train["model_bridge"]["status"] == "bridged"
    assert train["model_bridge"]["parity"]["max_abs_diff"] < 1e-4
    assert [stage["stage"] for stage in report["stages"]] == ["train", "distill", "prune", "qat"]
    distill = report["stages"][1]["info"]
    assert distill["student_choice"] == "student auto: the default for a user model file"
    assert distill["auto_student"]["student_params"] < distill["auto_student"]["teacher_params"]
    # The deployable keeps the user's own ops: the depthwise conv and the residual Add.
    from edgecomp.exporters.litert_internals import model_op_names

    deployable = next(a for a in report["artifacts"] if a["precision"] == "qat_int8")
    assert {"DEPTHWISE_CONV_2D", "ADD"} <= model_op_names(tmp_path / "run" / deployable["path"])
    by_precision = {a["precision"]: a for a in report["artifacts"] if a.get("role") != "original"}
    assert by_precision["qat_int8"]["status"] in {"ok", "parity_failed"}
    assert by_precision["float32"]["status"] == "ok"
    original = [a for a in report["artifacts"] if a.get("role") == "original"]
    assert original and original[0]["status"] == "ok"


@pytest.mark.slow
def test_keras3_model_the_bridge_refuses_goes_through_a_ptq_only_plan(tmp_path):
    """celu has no tf-keras counterpart: the model stays in Keras 3 and is converted directly.

    Exit 1: the ONNX rows fail (below), and a build with a failed artifact says so to a CI job."""
    report = _build(tmp_path, keras3_cnn("celu"), PTQ_PLAN_SMALL, exit_code=1)
    bridge = report["stages"][0]["info"]["model_bridge"]
    assert bridge["status"] == "not_bridged"
    assert "celu" in bridge["reason"] and "from_saved_model" in bridge["direct_conversion"]
    artifacts = {a["name"]: a for a in report["artifacts"]}
    for name in ("model_float32.tflite", "model_int8.tflite", "model_float16.tflite"):
        assert artifacts[name]["status"] in {"ok", "parity_failed"}, artifacts[name]
        assert artifacts[name]["size_bytes"] > 0
    assert artifacts["model_float32.tflite"]["parity"]["max_abs_diff"] < 1e-4
    # tf2onnx cannot express celu's Expm1 at opset 13: a failed row with the reason, the rest goes on.
    onnx = artifacts["model_float32.onnx"]
    assert onnx["status"] == "failed" and "Expm1" in onnx["error"]


def test_a_keras3_model_the_bridge_refuses_stops_a_plan_that_needs_tf_keras(tmp_path):
    path = tmp_path / "model.keras"
    keras3_cnn("celu").save(path)
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"name: user\nmodel: {path}\n" + DEFAULT_PLAN_SMALL)
    result = runner.invoke(app, ["build", "--config", str(plan), "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert "celu" in result.output and "PTQ-only" in result.output


def _run_tflite(path, images):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.resize_tensor_input(0, images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images.astype("float32"))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.fixture(scope="module")
def fmnist32_npz(tmp_path_factory):
    """A 32x32x3 `.npz` dataset (MobileNetV3's smallest input): real Fashion-MNIST images padded
    by 2 pixels and stacked to RGB. 160 training and 64 test images, uint8."""
    import numpy as np

    from edgecomp.data.dataset import load_dataset

    data = load_dataset("fashion_mnist", train_limit=160, test_limit=64, seed=0)

    def rgb32(pixels):  # (N, 28, 28, 1) -> (N, 32, 32, 3)
        return np.repeat(np.pad(pixels, ((0, 0), (2, 2), (2, 2), (0, 0))), 3, axis=-1)

    path = tmp_path_factory.mktemp("fmnist32") / "fmnist32.npz"
    np.savez(path, x_train=rgb32(data.pixels("train")), y_train=data.labels("train"),
             x_test=rgb32(data.pixels("test")), y_test=data.labels("test"), class_names=np.asarray(data.class_names))
    return path


# The default plan's stages and methods on MobileNetV3Small, cut to what the test reads (it took 8 min 45 s
# with 400 images, a pruning fine-tune, the floor file, ONNX files and a 10-run benchmark): the model
# loaded as given (epochs 0), one epoch of distillation into the auto student and of QAT, one-shot
# global pruning (epochs 0: the same pruning, no fine-tuning run of the wrapped network), .tflite only.
MOBILENET_PLAN = """
sanity: warn
dataset: {name: %(npz)s, normalization: raw}
export: {formats: [tflite], floor: false, parity_samples: 64}
bench: {warmup: 1, min_runs: 3, min_time_s: 0, accuracy_samples: 64}
stages:
  - {stage: train, epochs: 0}
  - {stage: distill, method: kd, epochs: 1, batch_size: 64}
  - {stage: prune, method: global, sparsity: 0.5, epochs: 0}
  - {stage: qat, epochs: 1, batch_size: 64}
"""


@pytest.mark.slow
def test_softmax_headed_keras3_mobilenetv3small_through_the_default_plan(tmp_path, fmnist32_npz):
    """keras.applications.MobileNetV3Small(classes=10, weights=None) ends in Activation("softmax"):
    its deployable outputs probabilities that sum to 1, and the original model's file the given
    model's outputs and top-1 (its Rescaling layer takes 0..255 pixels: normalization raw)."""
    import keras
    import numpy as np

    from edgecomp.data.dataset import load_dataset

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), classes=10, weights=None)
    rng = np.random.default_rng(0)  # trained-like BatchNorm statistics: the initial ones squash every output
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, channels), rng.normal(0, 0.2, channels),
                               rng.normal(0, 0.2, channels), rng.uniform(0.5, 1.5, channels)])
    report = _build(tmp_path, model, MOBILENET_PLAN % {"npz": fmnist32_npz})
    assert [stage["stage"] for stage in report["stages"]] == ["train", "distill", "prune", "qat"]
    train = report["stages"][0]["info"]
    assert train["output_head"]["layer"] == "predictions" and train["model_bridge"]["status"] == "bridged"
    pixels = load_dataset(str(fmnist32_npz), normalization="raw").images("test")
    given = np.asarray(model.predict(pixels, verbose=0))
    files = {a["precision"] if a.get("role") != "original" else "original": a for a in report["artifacts"]}
    original = _run_tflite(tmp_path / "run" / files["original"]["path"], pixels)
    np.testing.assert_allclose(original.sum(-1), 1.0, atol=1e-4)
    np.testing.assert_allclose(original, given, atol=1e-4)
    assert (original.argmax(-1) == given.argmax(-1)).all()
    assert given.std() > 1e-3  # not a uniform output that any file would match
    deployable = files["qat_int8"]
    assert deployable["outputs"] == "probabilities"
    probabilities = _run_tflite(tmp_path / "run" / deployable["path"], pixels)
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=0.02)  # int8: each rounded to 1/256
    # Parity compares it with the compressed Keras model with its softmax back: probabilities on both
    # sides (logits on one side would differ by far more; 0.024 measured after one epoch of each stage, 0.071
    # with the one-shot pruning of MOBILENET_PLAN).
    assert deployable["parity"]["max_abs_diff"] < 0.1


@pytest.mark.slow
def test_keras3_model_with_augmentation_layers_through_the_default_plan(tmp_path):
    import keras

    layers = keras.layers
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    x = layers.RandomFlip("horizontal", name="random_flip")(x)
    x = layers.RandomRotation(0.1, name="random_rotation")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(32, 3, padding="same", activation="relu")(x))
    model = keras.Model(inputs, layers.Dense(10)(x), name="augmented_cnn")
    plan = DEFAULT_PLAN_SMALL.replace("test_limit: 150}", "test_limit: 150, normalization: raw}")
    report = _build(tmp_path, model, plan)
    assert report["stages"][0]["info"]["augmentation_layers"]["dropped"] == ["random_flip", "random_rotation"]
    assert [stage["stage"] for stage in report["stages"]] == ["train", "distill", "prune", "qat"]
    assert all(a["status"] in {"ok", "parity_failed"} for a in report["artifacts"]), report["artifacts"]
    assert "`random_flip`" in (tmp_path / "run" / "report.md").read_text()
