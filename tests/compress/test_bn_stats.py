"""BatchNorm statistics re-estimated after training: exact averages, and small datasets without a BN gap."""

import numpy as np
import pytest

from edgecomp.compress.bn_stats import reestimate_bn_statistics
from edgecomp.tfenv import keras, seed_everything


def test_moving_statistics_become_the_average_of_batch_statistics(fmnist_small):
    """A BN right after the input: its new moving mean/variance are the mean of the per-batch
    mean/variance of the images it saw (checked by hand), and its momentum is restored."""
    layers = keras().layers
    inputs = keras().Input(fmnist_small.input_shape)
    bn = layers.BatchNormalization(momentum=0.99)
    model = keras().Model(inputs, layers.Dense(10)(layers.Flatten()(bn(inputs))))
    info = reestimate_bn_statistics(model, fmnist_small, batch_size=600, max_images=1800, seed=0)
    assert info["batches"] == 3 and info["images"] == 1800 and info["bn_layers"] == 1
    from edgecomp.data.pipeline import stream

    batches = [x.numpy() for x, _ in stream(fmnist_small, "train", 600, shuffle=True, seed=0).take(3)]
    mean = np.mean([b.mean(axis=(0, 1, 2)) for b in batches], axis=0)  # (C,)
    variance = np.mean([b.var(axis=(0, 1, 2)) for b in batches], axis=0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-3)
    # TensorFlow's fused BN keeps the unbiased (n / (n - 1)) batch variance in its moving average.
    n = 600 * 28 * 28
    np.testing.assert_allclose(bn.moving_variance.numpy(), variance * n / (n - 1), rtol=1e-3)
    assert bn.momentum == 0.99


def test_frozen_batchnorm_is_left_alone(fmnist_small):
    layers = keras().layers
    inputs = keras().Input(fmnist_small.input_shape)
    bn = layers.BatchNormalization(trainable=False)
    model = keras().Model(inputs, bn(inputs))
    assert reestimate_bn_statistics(model, fmnist_small)["reestimated"] is False
    np.testing.assert_array_equal(bn.moving_mean.numpy(), 0.0)


def train_teacher(data, epochs: int, seed: int = 0):
    from edgecomp.compress.fitting import fit
    from edgecomp.data.pipeline import accuracy
    from edgecomp.models.zoo import build_zoo_model

    seed_everything(seed)
    model = build_zoo_model("cnn-teacher", data.input_shape, data.num_classes)
    fit(model, data, epochs, 128, 2e-3, "train", seed=seed)
    before = {split: accuracy(model, data, split) for split in ("train", "val")}
    reestimate_bn_statistics(model, data, 128, seed=seed)
    after = {split: accuracy(model, data, split) for split in ("train", "val")}
    return before, after


def assert_no_bn_gap(before: dict, after: dict) -> None:
    """Validation tracks training accuracy (both in inference mode) after re-estimation.

    Bound: val >= train - 0.15. The validation split is ~100 images, so one standard error of its
    accuracy is ~5 points; three epochs on ~900 images cannot over-fit by more, so 15 points (3 SE)
    is noise, while the BN gap it guards against is 25-35 points (val near chance, 10%). And the
    model must have learnt: val >= 0.25, 2.5x chance.
    """
    assert after["val"] >= after["train"] - 0.15, (before, after)
    assert after["val"] >= 0.25, (before, after)


@pytest.mark.slow
def test_small_rgb_folder_teacher_has_no_bn_gap_at_32px(fmnist_folder):
    """~900 training images, 3 epochs: 24 optimizer steps, where momentum 0.99 keeps 79% of the
    initial statistics. Before re-estimation validation sits near chance (measured 12%)."""
    from edgecomp.data import load_dataset

    data = load_dataset(str(fmnist_folder[0]), size=(32, 32))
    before, after = train_teacher(data, epochs=3)
    assert_no_bn_gap(before, after)
    assert after["val"] > before["val"]


@pytest.mark.slow
def test_teacher_on_1000_folder_images_at_96px_rgb_has_no_bn_gap(fmnist_folder):
    """Issue 10's case: the zoo teacher, 3 epochs on ~1,000 folder images at 96x96 RGB (measured
    before re-estimation: train 13%, val 12%, test 12% in inference mode; after: 46%, 37%, 45%)."""
    from edgecomp.data import load_dataset

    data = load_dataset(str(fmnist_folder[0]), size=(96, 96))
    assert data.count("train") == 900 and data.input_shape == (96, 96, 3)
    before, after = train_teacher(data, epochs=3)
    assert_no_bn_gap(before, after)
