"""Softmax heads: taken off for training (logits out, same weights) in each form Keras writes them,
put back for export; and a Keras 3 model as a user has it (Rescaling, RandomFlip, RandomRotation,
a softmax head) through a plan, its `.tflite` files run in LiteRT against the Keras 3 model."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgecomp.cli.main import app
from edgecomp.core.tfenv import keras
from edgecomp.models.output_head import softmax_head, strip_softmax_head, with_softmax

runner = CliRunner()
IMAGES = np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def _cnn(head: str):
    layers = keras().layers
    inputs = keras().Input((28, 28, 1))
    x = layers.Flatten()(layers.Conv2D(4, 3, activation="relu")(inputs))
    if head == "dense_activation":
        return keras().Model(inputs, layers.Dense(10, activation="softmax", name="head")(x))
    x = layers.Dense(10, name="logits")(x)
    if head == "activation_layer":
        return keras().Model(inputs, layers.Activation("softmax", name="head")(x))
    if head == "softmax_layer":
        return keras().Model(inputs, layers.Softmax(name="head")(x))
    return keras().Model(inputs, x)


@pytest.mark.parametrize("head", ["dense_activation", "activation_layer", "softmax_layer"])
def test_softmax_head_is_taken_off_and_put_back(head):
    model = _cnn(head)
    logits_model, record = strip_softmax_head(model)
    assert record["layer"] == "head" and softmax_head(logits_model) is None
    logits = logits_model.predict(IMAGES, verbose=0)
    probabilities = model.predict(IMAGES, verbose=0)
    assert np.abs(logits.sum(-1) - 1).max() > 1e-2  # logits, not probabilities
    np.testing.assert_allclose(_softmax(logits), probabilities, atol=1e-6)
    np.testing.assert_allclose(with_softmax(logits_model).predict(IMAGES, verbose=0), probabilities, atol=1e-6)


def test_a_logits_model_is_left_as_it_is():
    model = _cnn("none")
    assert strip_softmax_head(model) == (model, None)


def keras3_user_cnn():
    """A Keras 3 model as Keras' tutorials write it: Rescaling, augmentation layers, a softmax head."""
    import keras as keras3

    layers = keras3.layers
    keras3.utils.set_random_seed(0)
    inputs = keras3.Input((28, 28, 1))
    x = layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    x = layers.RandomFlip("horizontal", name="random_flip")(x)
    x = layers.RandomRotation(0.1, name="random_rotation")(x)
    x = layers.Conv2D(8, 3, activation="relu", name="conv")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras3.Model(inputs, layers.Dense(10, activation="softmax", name="predictions")(x), name="user_cnn")


PTQ_PLAN = """
name: user
sanity: warn  # an untrained model: this tests the output contract, not the numbers
model: {path}
dataset: {{name: fashion_mnist, train_limit: 600, test_limit: 200, normalization: raw}}
stages:
  - {{stage: train, epochs: 0}}
  - {{stage: quantize, modes: [int8], calibration_samples: 100}}
export: {{formats: [tflite], parity_samples: 100}}
bench: {{warmup: 1, min_runs: 5, min_time_s: 0, accuracy_samples: 100}}
"""


def _run_tflite(path, images: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.resize_tensor_input(0, images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images.astype(np.float32))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_keras3_user_model_keeps_its_probabilities_and_loses_its_augmentation(tmp_path):
    from edgecomp.data.dataset import load_dataset

    model = keras3_user_cnn()
    path = tmp_path / "user.keras"
    model.save(path)
    (tmp_path / "plan.yaml").write_text(PTQ_PLAN.format(path=path))
    result = runner.invoke(app, ["build", "--config", str(tmp_path / "plan.yaml"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    train = report["stages"][0]["info"]
    assert train["augmentation_layers"]["dropped"] == ["random_flip", "random_rotation"]
    assert train["output_head"]["layer"] == "predictions"
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert "random_flip" in markdown and "probabilities" in markdown

    pixels = load_dataset("fashion_mnist", test_limit=200, normalization="raw").images("test", 200)
    expected = np.asarray(model.predict(pixels, verbose=0))  # Keras 3, inference mode (augmentation off)
    float32 = _run_tflite(tmp_path / "run" / "artifacts" / "model_float32.tflite", pixels)
    np.testing.assert_allclose(float32.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(float32, expected, atol=1e-5)
    int8 = _run_tflite(tmp_path / "run" / "artifacts" / "model_int8.tflite", pixels)
    np.testing.assert_allclose(int8.sum(-1), 1.0, atol=0.02)  # each probability rounded to 1/256
    assert np.mean(int8.argmax(-1) == expected.argmax(-1)) >= 0.9
