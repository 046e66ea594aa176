import numpy as np
import pytest

from edgecomp.core.errors import ModelLoadError, UsageError
from edgecomp.models.load import load_user_model
from edgecomp.models.zoo import ZOO, build_zoo_model


@pytest.mark.parametrize("name", ZOO.names())
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_zoo_models_fit_small_images_and_output_logits(name, shape):
    model = build_zoo_model(name, shape, 10)
    assert model.output_shape == (None, 10)
    # Logits, not probabilities: rows need not sum to one, and the last layer has no softmax.
    assert model.layers[-1].get_config()["activation"] == "linear"


def test_zoo_sizes_are_ordered():
    counts = [build_zoo_model(n, (28, 28, 1), 10).count_params()
              for n in ["cnn-teacher", "cnn-assistant-wide", "cnn-assistant", "cnn-student", "cnn-tiny"]]
    assert counts == sorted(counts, reverse=True)


def test_unknown_zoo_name():
    with pytest.raises(UsageError, match="Did you mean 'cnn-student'"):
        build_zoo_model("cnn-studnet", (28, 28, 1), 10)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ""], ids=[".keras", ".h5", "savedmodel"])
def test_user_model_round_trip(tiny_model, fmnist_small, tmp_path, suffix):
    """tf-keras files and a SavedModel folder (no suffix) load with tf-keras, outputs unchanged."""
    path = tmp_path / f"model{suffix}"
    tiny_model.save(path)
    loaded = load_user_model(path)
    for saved, reloaded in zip(tiny_model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(reloaded, saved)
    # Real images, so every kernel shapes the logits (all-zero images through bias-free convs would not).
    images = fmnist_small.images("test", 32)
    expected = tiny_model.predict(images, verbose=0)
    assert np.ptp(expected, axis=0).min() > 0.1  # the logits really depend on the image
    np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, atol=1e-5)


def test_missing_and_corrupt_model_files(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_user_model(tmp_path / "nope.keras")
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a zip at all")
    with pytest.raises(ModelLoadError, match="corrupt"):
        load_user_model(corrupt)
    truncated = tmp_path / "trunc.h5"
    truncated.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(ModelLoadError, match="cannot load model"):
        load_user_model(truncated)
    wrong = tmp_path / "weights.bin"
    wrong.write_bytes(b"\0")
    with pytest.raises(ModelLoadError, match="not a Keras model file"):
        load_user_model(wrong)


def test_lambda_layer_code_is_refused_by_safe_mode(tmp_path):
    """A .keras file whose Lambda layer carries Python bytecode must not be deserialized."""
    from edgecomp.core.tfenv import keras

    inputs = keras().Input((4,))
    outputs = keras().layers.Lambda(lambda t: t * 2)(inputs)
    path = tmp_path / "lambda.keras"
    keras().Model(inputs, outputs).save(path)
    with pytest.raises(ModelLoadError, match="(?i)safe"):
        load_user_model(path)
