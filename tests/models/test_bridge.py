"""Keras 3 files: version read from the file, the tf-keras rebuild matches the Keras 3 model on real
images, layers that cannot cross are named, Lambda bytecode stays refused, nested models flatten."""

import numpy as np
import pytest

from edgecomp.core.errors import ModelLoadError
from edgecomp.core.tfenv import keras
from edgecomp.models.bridge import BridgeError, bridge_keras3_model
from edgecomp.models.flatten import FlattenError, flatten_model
from edgecomp.models.load import keras_version_of, load_any_model, load_user_model


def keras3_layer_zoo(with_ops: bool = True):
    """A Keras 3 CNN using every layer kind the bridge claims, weights made non-trivial.

    with_ops=False leaves out the `keras.ops` nodes (x + 3.0): Keras 3's own legacy `.h5` loader
    cannot read them back.
    """
    import keras as k3

    layers = k3.layers
    k3.utils.set_random_seed(0)
    inputs = k3.Input((28, 28, 1))
    x = layers.Normalization(mean=0.3, variance=0.1, name="norm")(inputs)
    x = layers.Rescaling(2.0, offset=-0.5, name="rescale")(x)
    x = layers.ZeroPadding2D(1, name="pad")(x)
    x = layers.Conv2D(8, 3, use_bias=False, name="conv")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(6.0, name="relu6")(x)
    y = layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = layers.Activation("hard_silu", name="hswish")(y)
    y = layers.Conv2D(8, 1, activation="hard_sigmoid", name="gate_conv")(y)
    x = layers.Add(name="residual")([x, y])
    if with_ops:
        x = layers.Multiply(name="gated")([x, (x + 3.0) * (1.0 / 6.0)])  # keras.ops Add and Multiply nodes
    x = layers.SeparableConv2D(8, 3, padding="same", activation="swish", name="sep")(x)
    x = layers.LeakyReLU(0.1, name="leaky")(x)
    z = layers.AveragePooling2D(2, name="avg")(x)
    x = layers.Concatenate(name="concat")([layers.MaxPooling2D(2, name="max")(x), z])
    squeezed = layers.GlobalAveragePooling2D(name="gap")(x)
    squeezed = layers.Reshape((1, 1, 16), name="reshape")(squeezed)
    x = layers.Multiply(name="se")([x, layers.Dense(16, activation="sigmoid", name="excite")(squeezed)])
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="drop")(x)
    outputs = layers.Dense(10, name="logits")(layers.Dense(32, activation="gelu", name="fc")(x))
    model = k3.Model(inputs, outputs, name="layer_zoo")
    rng = np.random.default_rng(0)
    bn = model.get_layer("bn")
    bn.set_weights([rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.3, 8), rng.normal(0, 0.3, 8), rng.uniform(0.5, 2, 8)])
    return model


def _tf_keras_cnn():
    layers = keras().layers
    inputs = keras().Input((28, 28, 1))
    return keras().Model(inputs, layers.Dense(10)(layers.Flatten()(layers.Conv2D(4, 3)(inputs))))


def test_keras_version_is_read_from_the_file(tmp_path):
    model = keras3_layer_zoo(with_ops=False)
    model.save(tmp_path / "k3.keras")
    model.save(tmp_path / "k3.h5")
    _tf_keras_cnn().save(tmp_path / "k2.keras")
    _tf_keras_cnn().save(tmp_path / "k2.h5")
    import keras as k3
    import tf_keras

    assert keras_version_of(tmp_path / "k3.keras") == k3.__version__
    assert keras_version_of(tmp_path / "k3.h5") == k3.__version__
    assert keras_version_of(tmp_path / "k2.keras") == tf_keras.__version__
    assert keras_version_of(tmp_path / "k2.h5") == tf_keras.__version__


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras3_file_is_rebuilt_in_tf_keras_with_the_same_outputs(fmnist_small, tmp_path, suffix):
    source = keras3_layer_zoo(with_ops=suffix == ".keras")
    path = tmp_path / f"zoo{suffix}"
    source.save(path)
    images = fmnist_small.images("test", 64)
    model = load_user_model(path, images)
    assert isinstance(model, keras().Model)
    assert model.count_params() == source.count_params()
    reference = source.predict(images, verbose=0)  # (64, 10)
    assert reference.std() > 0.01  # outputs that carry signal, so the comparison means something
    np.testing.assert_allclose(model.predict(images, verbose=0), reference, atol=1e-5, rtol=1e-5)


def test_bridge_records_parity_and_rebuilt_activations(fmnist_small):
    result = bridge_keras3_model(keras3_layer_zoo(), fmnist_small.images("test", 32))
    assert result.parity["passed"] and result.parity["max_abs_diff"] < 1e-5
    assert result.parity["samples"] == 32
    assert set(result.rebuilt_activations) == {"hswish", "gate_conv"}
    # hard_sigmoid in Keras 3 is relu6(x + 3) / 6; tf-keras' own hard_sigmoid would differ.
    assert "gate_conv_hard_sigmoid" in [layer.name for layer in result.model.layers]


def test_a_layer_that_cannot_cross_is_named_with_class_and_reason(fmnist_small):
    import keras as k3

    inputs = k3.Input((28, 28, 1))
    x = k3.layers.Conv2D(4, 3, name="conv")(inputs)
    x = k3.layers.Activation("celu", name="odd_activation")(x)
    outputs = k3.layers.Dense(10)(k3.layers.Flatten()(x))
    with pytest.raises(BridgeError, match=r"'odd_activation' \(Activation\) uses activation 'celu'"):
        bridge_keras3_model(k3.Model(inputs, outputs), fmnist_small.images("test", 8))
    inputs = k3.Input((28, 28, 1))
    # A RandomCrop to another size centre-crops at inference: not an identity, so not left out.
    cropped = k3.layers.RandomCrop(20, 20, name="crop")(inputs)
    with pytest.raises(BridgeError, match=r"'crop' \(RandomCrop\) cannot be brought .* PTQ-only"):
        bridge_keras3_model(k3.Model(inputs, k3.layers.Flatten()(cropped)), fmnist_small.images("test", 8))

    class Doubling(k3.layers.Layer):
        def call(self, tensor):
            return tensor * 2

    inputs = k3.Input((28, 28, 1))
    doubled = Doubling(name="doubling")(inputs)
    with pytest.raises(BridgeError, match=r"'doubling' \(Doubling\) is a custom layer"):
        bridge_keras3_model(k3.Model(inputs, k3.layers.Flatten()(doubled)), fmnist_small.images("test", 8))


def test_keras3_lambda_bytecode_is_refused(tmp_path):
    import keras as k3

    inputs = k3.Input((4,))
    path = tmp_path / "lambda3.keras"
    k3.Model(inputs, k3.layers.Lambda(lambda t: t * 2)(inputs)).save(path)
    with pytest.raises(ModelLoadError, match="(?i)safe"):
        load_any_model(path)
    with pytest.raises(ModelLoadError, match="(?i)safe"):
        load_user_model(path)


def _nested_tf_keras_model():
    """Functional(Functional(Sequential) called with training=False) + a Sequential head."""
    layers = keras().layers
    inner_inputs = keras().Input((28, 28, 1))
    block = keras().Sequential([layers.Conv2D(4, 3, name="conv"), layers.BatchNormalization(name="bn"),
                                layers.ReLU(name="relu")], name="block")
    inner = keras().Model(inner_inputs, layers.MaxPooling2D(name="pool")(block(inner_inputs)), name="backbone")
    inputs = keras().Input((28, 28, 1))
    features = inner(inputs, training=False)
    head = keras().Sequential([layers.Flatten(name="flat"), layers.Dense(10, name="conv")], name="head")
    model = keras().Model(inputs, head(features), name="nested")
    bn = model.get_layer("backbone").get_layer("block").get_layer("bn")
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 1.5, 4), rng.normal(0, 0.3, 4), rng.normal(0, 0.3, 4), rng.uniform(0.5, 2, 4)])
    return model


def test_nested_models_flatten_into_one_graph_with_the_same_outputs(fmnist_small):
    model = _nested_tf_keras_model()
    result = flatten_model(model, fmnist_small.images("test", 64))
    flat = result.model
    assert not any(isinstance(layer, keras().Model) for layer in flat.layers)
    assert result.submodels == ["backbone", "block", "head"]
    assert result.renamed == {"head_conv": "head/conv"}  # the head's Dense shares the backbone conv's name
    assert result.frozen_inference_layers == ["bn"]  # called under training=False in the original
    assert flat.count_params() == model.count_params()
    assert result.parity["passed"] and result.parity["max_abs_diff"] < 1e-5
    # training=False survives: a training-mode call must still use the moving statistics.
    images = fmnist_small.images("test", 16)
    np.testing.assert_allclose(flat(images, training=True).numpy(), model(images, training=True).numpy(), atol=1e-5)


def test_a_shared_submodel_is_refused_by_flattening():
    layers = keras().layers
    shared = keras().Sequential([layers.Dense(4, name="d")], name="shared")
    inputs = keras().Input((8,))
    model = keras().Model(inputs, layers.Add()([shared(inputs), shared(inputs)]))
    with pytest.raises(FlattenError, match="shared.*called 2 times"):
        flatten_model(model)
