"""Stage functions alone on in-memory models: `edgecomp.quantize` and `edgecomp.export`."""

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

    from edgecomp.measure.precision import describe_precision

    model = dense_model(keras, arrays)
    files, info = edgecomp.quantize(model, arrays, modes=["int8", "float16"], out=tmp_path, calibration_samples=64,
                                    parity_samples=64)
    assert [f.name for f in files] == ["model_float32.tflite", "model_int8.tflite", "model_float16.tflite"]
    assert [describe_precision(f)["precision"] for f in files] == ["float32", "int8", "float16"]
    assert info["stages"][0]["modes"] == ["int8", "float16"]
    by_name = {a["name"]: a for a in info["artifacts"]}
    assert by_name["model_float32.tflite"]["parity"]["top1_agreement"] == 1.0  # checked against the Keras model
    assert by_name["model_int8.tflite"]["parity"]["samples"] == 64


def test_export_of_a_tf_keras_object_matches_it_in_onnxruntime(arrays, tmp_path):
    import onnxruntime

    from edgecomp.core.tfenv import keras

    model = dense_model(keras(), arrays)
    files, info = edgecomp.export(model, tmp_path, data=arrays, parity_samples=32)
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
    with pytest.raises(ConfigError, match=r"quantize\.modes: unknown quantize mode 'int4'. Did you mean 'int8'"):
        edgecomp.quantize(model, arrays, modes=["int4"], out=tmp_path)
    assert not (tmp_path / "artifacts").exists()


def conv_model(keras_module, arrays):
    """A small CNN with a residual Add (logits out), trained one epoch on x / 255."""
    layers = keras_module.layers
    inputs = keras_module.Input((28, 28, 1))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = layers.Add()([x, layers.Conv2D(16, 3, padding="same", activation="relu")(x)])
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(layers.MaxPooling2D()(x))
    x = layers.GlobalAveragePooling2D()(x)
    model = keras_module.Model(inputs, layers.Dense(10)(x))
    model.compile(optimizer="adam", loss=keras_module.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(arrays[0][..., None] / 255.0, arrays[1], epochs=1, batch_size=64, verbose=0)
    return model


@pytest.mark.slow
def test_prune_structured_then_qat_then_distill_on_objects(arrays, tmp_path):
    """Each stage function alone, on what the previous returned: a narrower network, a QAT model, a student."""
    import keras

    from edgecomp.core.tfenv import keras as tf_keras

    model = conv_model(keras, arrays)
    pruned, info = edgecomp.prune(model, arrays, method="structured", sparsity=0.5, epochs=1, out=tmp_path / "p")
    assert isinstance(pruned, tf_keras().Model)
    assert info["params"]["after"] < info["params"]["before"] == model.count_params()
    quantized, info = edgecomp.qat(pruned, arrays, epochs=1, out=tmp_path / "q")
    assert info["scheme"] == "default_8bit" and "quant" in " ".join(layer.name for layer in quantized.layers)
    student, info = edgecomp.distill(model, "auto", arrays, epochs=1, width=0.5, out=tmp_path / "d")
    assert info["method"] == "kd" and student.count_params() < model.count_params()
