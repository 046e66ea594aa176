"""Augmentation layers: each one edgecomp leaves out is an identity at inference (run in Keras 3 and
tf-keras); a Keras 3 model with them crosses the bridge without them, a tf-keras model is rebuilt
without them, and a RandomCrop that changes the size is kept."""

import numpy as np
import pytest

from edgecomp.core.tfenv import keras
from edgecomp.models.augmentation import (
    INFERENCE_IDENTITY_LAYERS,
    drop_augmentation_layers,
    is_inference_identity,
)
from edgecomp.models.bridge import bridge_keras3_model

# Settings that make each layer do something in training (the defaults of a few are no-ops).
SETTINGS = {"RandomRotation": {"factor": 0.2}, "RandomZoom": {"height_factor": 0.3},
            "RandomContrast": {"factor": 0.5}, "RandomTranslation": {"height_factor": 0.2, "width_factor": 0.2},
            "RandomBrightness": {"factor": 0.3}, "RandomHeight": {"factor": 0.2}, "RandomWidth": {"factor": 0.2},
            "RandomColorDegeneration": {"factor": 0.5}, "RandomHue": {"factor": 0.5},
            "RandomSaturation": {"factor": 0.5}, "RandomSharpness": {"factor": 0.5},
            "RandomPosterization": {"factor": (1, 4), "value_range": (0, 1)}, "RandomCrop": {"height": 24,
                                                                                             "width": 24}}
IMAGES = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)


def _layer_classes():
    import keras as keras3

    for name in sorted(INFERENCE_IDENTITY_LAYERS):
        for label, module in (("keras3", keras3.layers), ("tf_keras", keras().layers)):
            if hasattr(module, name):
                yield pytest.param(getattr(module, name), id=f"{label}-{name}")


@pytest.mark.parametrize("layer_class", list(_layer_classes()))
def test_every_dropped_layer_is_an_identity_at_inference(layer_class):
    layer = layer_class(**SETTINGS.get(layer_class.__name__, {}))
    outputs = np.asarray(layer(IMAGES, training=False))
    np.testing.assert_array_equal(outputs, IMAGES)


def test_random_crop_is_dropped_only_when_it_keeps_the_size():
    assert is_inference_identity("RandomCrop", {"height": 32, "width": 32}, (None, 32, 32, 3))
    assert not is_inference_identity("RandomCrop", {"height": 24, "width": 24}, (None, 32, 32, 3))
    assert not is_inference_identity("Rescaling", {"scale": 1.0}, (None, 32, 32, 3))


def keras3_augmented_cnn():
    """Keras' tutorial pattern: Rescaling, then augmentation layers (one nested Sequential)."""
    import keras as keras3

    layers = keras3.layers
    keras3.utils.set_random_seed(0)
    augmentation = keras3.Sequential([layers.RandomZoom(0.2, name="random_zoom"),
                                      layers.RandomContrast(0.3, name="random_contrast")], name="data_augmentation")
    inputs = keras3.Input((28, 28, 1))
    x = layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    x = layers.RandomFlip("horizontal", name="random_flip")(x)
    x = layers.RandomRotation(0.1, name="random_rotation")(x)
    x = augmentation(x)
    x = layers.Conv2D(8, 3, activation="relu", name="conv")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras3.Model(inputs, layers.Dense(10, name="logits")(x), name="augmented")


def test_keras3_model_crosses_the_bridge_without_its_augmentation_layers():
    source = keras3_augmented_cnn()
    pixels = np.random.default_rng(1).integers(0, 256, (16, 28, 28, 1)).astype(np.float32)
    result = bridge_keras3_model(source, pixels)
    assert result.dropped_layers == ["random_flip", "random_rotation", "data_augmentation/random_zoom",
                                     "data_augmentation/random_contrast"]
    kinds = {type(layer).__name__ for layer in result.model.layers}
    assert not kinds & INFERENCE_IDENTITY_LAYERS and "Sequential" not in kinds
    assert result.parity["passed"] and result.parity["max_abs_diff"] < 1e-5  # vs Keras 3 in inference mode


def test_tf_keras_model_is_rebuilt_without_its_augmentation_layers():
    layers = keras().layers
    inputs = keras().Input((28, 28, 1))
    x = layers.RandomFlip("horizontal", name="flip")(inputs)
    x = keras().Sequential([layers.RandomRotation(0.2, name="rotate")], name="augment")(x)
    x = layers.Conv2D(4, 3, name="conv")(x)
    model = keras().Model(inputs, layers.Dense(10, name="logits")(layers.Flatten()(x)))
    images = np.random.default_rng(2).random((8, 28, 28, 1), dtype=np.float32)
    rebuilt, dropped = drop_augmentation_layers(model, images)
    assert dropped == ["flip", "rotate"]
    assert not {type(layer).__name__ for layer in rebuilt.layers} & INFERENCE_IDENTITY_LAYERS
    np.testing.assert_allclose(rebuilt.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)


def test_a_model_without_augmentation_is_returned_as_it_is():
    model = keras().Sequential([keras().Input((8, 8, 1)), keras().layers.Flatten(), keras().layers.Dense(3)])
    assert drop_augmentation_layers(model) == (model, [])
