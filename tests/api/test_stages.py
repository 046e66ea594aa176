"""Stage functions alone on in-memory models: `edgecomp.quantize` and `edgecomp.export_model`."""

from __future__ import annotations

import numpy as np
import pytest

import edgecomp
from edgecomp.core.errors import ConfigError


@pytest.fixture(scope="module")
def arrays():
    from edgecomp.data.dataset import load_dataset

    data = load_dataset("fashion_mnist", train_limit=700, test_limit=100, seed=2)
    return data.pixels("train")[..., 0], data.labels("train"), data.pixels("test")[..., 0], data.labels("test")


def dense_model(keras_module, arrays):
    """A small logits model trained one epoch on x / 255 (the default `unit` normalisation)."""
    inputs = keras_module.Input((28, 28, 1))
    hidden = keras_module.layers.Dense(32, activation="relu")(keras_module.layers.Flatten()(inputs))
    model = keras_module.Model(inputs, keras_module.layers.Dense(10)(hidden))
    model.compile(optimizer="adam", loss=keras_module.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(arrays[0][..., None] / 255.0, arrays[1], epochs=1, batch_size=64, verbose=0)
    return model


def test_quantize_a_keras3_object_to_int8_read_back_from_the_file(arrays, tmp_path):
    import keras

    from edgecomp.bench.precision import describe_precision

    model = dense_model(keras, arrays)
    files, info = edgecomp.quantize(model, arrays, modes=["int8", "float16"], out=tmp_path, calibration_samples=64,
                                    parity_samples=64)
    assert [f.name for f in files] == ["model_float32.tflite", "model_int8.tflite", "model_float16.tflite"]
    assert [describe_precision(f)["precision"] for f in files] == ["float32", "int8", "float16"]
    assert info["stages"][0]["modes"] == ["int8", "float16"]
    by_name = {a["name"]: a for a in info["artifacts"]}
    assert by_name["model_float32.tflite"]["parity"]["top1_agreement"] == 1.0  # checked against the Keras model
    assert by_name["model_int8.tflite"]["parity"]["samples"] == 64


def test_export_model_of_a_tf_keras_object_matches_it_in_onnxruntime(arrays, tmp_path):
    import onnxruntime

    from edgecomp.core.tfenv import keras

    model = dense_model(keras(), arrays)
    files, info = edgecomp.export_model(model, tmp_path, data=arrays, parity_samples=32)
    assert [f.name for f in files] == ["model_float32.tflite", "model_float32.onnx"]
    images = arrays[2][:16, ..., None].astype(np.float32) / 255.0
    session = onnxruntime.InferenceSession(str(files[1]))
    outputs = session.run(None, {session.get_inputs()[0].name: images})[0]
    np.testing.assert_allclose(outputs, model.predict(images, verbose=0), atol=1e-4)
    assert [a["parity"]["top1_agreement"] for a in info["artifacts"]] == [1.0, 1.0]


def test_an_unknown_mode_is_refused_before_any_work(arrays, tmp_path):
    import keras

    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ConfigError, match=r"quantize\.modes\[0\]: Input should be 'dynamic'"):
        edgecomp.quantize(model, arrays, modes=["int4"], out=tmp_path)
    assert not (tmp_path / "artifacts").exists()
