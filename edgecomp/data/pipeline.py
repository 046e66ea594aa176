"""tf.data streams over a Dataset's uint8 images: training batches (shuffled, augmented) and
evaluation batches, normalised on the fly.

The uint8 arrays stay where they are (no float copy, no second copy inside a tf.constant): each
batch's indices are gathered from them in one numpy call, then normalisation and augmentation run
as TensorFlow ops in a parallel map, and batches are prefetched while the model computes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Optional

import numpy as np

from edgecomp.data.augment import AugmentConfig, augment_pixels, mix_batch

AUTOTUNE = -1  # tf.data.AUTOTUNE


def _gather(arrays: tuple[np.ndarray, ...]) -> Callable:
    def gather(indices: np.ndarray):
        return tuple(array[indices] for array in arrays)  # one fancy-index per array and batch

    return gather


def _index_batches(count: int, batch_size: int, shuffle: bool, seed: int,
                   index_batches: Optional[Callable[[], Iterator[np.ndarray]]]):
    import tensorflow as tf

    if index_batches is not None:  # a method with its own batch order (DLB)
        return tf.data.Dataset.from_generator(index_batches, output_signature=tf.TensorSpec([None], tf.int64))
    indices = tf.data.Dataset.range(count)
    if shuffle:
        indices = indices.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    return indices.batch(batch_size)


def stream(data, split: str, batch_size: int, *, shuffle: bool = False, seed: int = 0,
           augment: Optional[AugmentConfig] = None, extra_targets: tuple[np.ndarray, ...] = (),
           index_batches: Optional[Callable[[], Iterator[np.ndarray]]] = None, one_hot: bool = False):
    """A tf.data.Dataset of (images, targets) batches of one split.

    Args:
        data: the Dataset (uint8 images, its normalisation).
        split: "train", "val" or "test".
        batch_size: images per batch.
        shuffle: reshuffle the split every epoch (training).
        seed: seeds the shuffle and the augmentation.
        augment: flip / shift / mixup applied to each batch (training only), or None.
        extra_targets: per-image arrays (N, ...) returned beside the labels, e.g. cached teacher
            logits (N, K): targets are then (labels, *extra).
        index_batches: a generator function of index arrays, one per batch, for methods with their
            own batch order; replaces `shuffle` and `batch_size`.
        one_hot: labels as one-hot float (B, K) (what a mixup-trained model validates against).

    Returns:
        tf.data.Dataset of (float32 (B, H, W, C) normalised images, targets).
    """
    import tensorflow as tf

    chosen = data.split(split)
    arrays = (chosen.pixels, chosen.labels) + tuple(np.asarray(t) for t in extra_targets)
    dtypes = [tf.as_dtype(array.dtype) for array in arrays]
    gather = _gather(arrays)

    def load(indices):
        batch = tf.numpy_function(gather, [indices], dtypes, stateful=False)
        for tensor, array in zip(batch, arrays):
            tensor.set_shape([None, *array.shape[1:]])
        return tuple(batch)

    batches = _index_batches(len(chosen), batch_size, shuffle, seed, index_batches).map(load)
    augmenting = augment is not None and augment.enabled
    mixup = augmenting and augment.mixup > 0
    num_classes = data.num_classes
    # A seed per batch, different every epoch, for the stateless augmentation ops.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def prepare(batch, batch_seed):
        pixels, targets = batch[0], batch[1:]
        images = tf.cast(pixels, tf.float32)  # (B, H, W, C) 0..255
        if augmenting:
            images = augment_pixels(images, batch_seed, augment)
        images = data.normalization.apply_tf(images)
        if mixup:
            images, targets = mix_batch(images, targets, batch_seed, augment.mixup, num_classes)
        elif one_hot:
            targets = (tf.one_hot(tf.cast(targets[0], tf.int32), num_classes),) + tuple(targets[1:])
        return images, targets[0] if len(targets) == 1 else tuple(targets)

    return tf.data.Dataset.zip((batches, seeds)).map(prepare, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def predict(model, data, split: str, batch_size: int = 256, limit: Optional[int] = None) -> np.ndarray:
    """The model's outputs (N, K) on a split's first `limit` images, streamed and normalised."""
    images = data.images(split, limit) if limit is not None else None
    if images is not None:
        return model.predict(images, batch_size=batch_size, verbose=0)
    return model.predict(stream(data, split, batch_size).map(lambda x, y: x), verbose=0)


def accuracy(model, data, split: str = "test", batch_size: int = 256) -> float:
    """Top-1 accuracy of a Keras model (logits or probabilities) on a split."""
    outputs = predict(model, data, split, batch_size)  # (N, K)
    return float(np.mean(outputs.argmax(-1) == data.labels(split)))
