"""A real Keras layer that records every batch a model is called on, to observe what a distillation
method feeds the networks it trains (augmented or not, the same view for teacher and student)."""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np
import pytest


@functools.cache
def batch_recorder_class():
    """The BatchRecorder layer class, registered so a model file holding one loads in safe mode."""
    from edgecomp.core.tfenv import keras, tf

    keras_, tf_ = keras(), tf()

    @keras_.utils.register_keras_serializable(package="edgecomp_tests")
    class BatchRecorder(keras_.layers.Layer):
        """Identity that keeps a copy of each batch it sees, with the call's `training` flag.

        The copies live on the class, by layer name (`BatchRecorder.seen[name]`: [(images, training)]),
        so the layer of a model loaded from a file records where the test can read it.
        """

        seen: ClassVar[dict[str, list[tuple[np.ndarray, bool]]]] = {}

        def call(self, images, training=None):
            def keep(batch, flag):
                BatchRecorder.seen.setdefault(self.name, []).append((batch.numpy().copy(), bool(flag.numpy())))
                return []

            tf_.py_function(keep, [images, False if training is None else training], Tout=[])
            return images

    return BatchRecorder


@pytest.fixture()
def recorded_batches():
    """{layer name: [(images, training)]} filled by every BatchRecorder layer during the test."""
    seen = batch_recorder_class().seen
    seen.clear()
    yield seen
    seen.clear()


def recording_cnn(name: str, input_shape, num_classes: int):
    """A small functional CNN (conv-pool twice, Dense logits) whose first layer, `{name}_inputs`,
    records its input batches. Two pooling layers give BYOT an exit."""
    from edgecomp.core.tfenv import keras

    layers = keras().layers
    inputs = keras().Input(input_shape)
    x = batch_recorder_class()(name=f"{name}_inputs")(inputs)
    x = layers.MaxPooling2D(name=f"{name}_pool1")(layers.Conv2D(8, 3, padding="same", activation="relu")(x))
    x = layers.MaxPooling2D(name=f"{name}_pool2")(layers.Conv2D(16, 3, padding="same", activation="relu")(x))
    outputs = layers.Dense(num_classes, name=f"{name}_logits")(layers.Flatten()(x))
    return keras().Model(inputs, outputs, name=name)


@pytest.fixture()
def recording_model():
    """`recording_cnn`, for the tests (a conftest is not importable)."""
    return recording_cnn


def is_raw_batch(batch: np.ndarray, raw_images: np.ndarray) -> bool:
    """True when every image of `batch` (B, H, W, C) is one of `raw_images` (N, H, W, C) unchanged
    (up to float rounding): a flipped, shifted or mixed image is not."""
    batch64 = batch.reshape(len(batch), -1).astype(np.float64)  # (B, D)
    raw64 = raw_images.reshape(len(raw_images), -1).astype(np.float64)  # (N, D)
    squared = (batch64 ** 2).sum(1)[:, None] + (raw64 ** 2).sum(1)[None, :] - 2 * batch64 @ raw64.T  # (B, N)
    return bool((squared.min(1) < 1e-3).all())


@pytest.fixture()
def raw_batch_check():
    """`is_raw_batch`, for the tests."""
    return is_raw_batch
