"""tf.data streams: normalised on the fly, and each augmentation doing what it says on a real batch."""

import numpy as np
import pytest

from edgecomp.data.augment import AugmentConfig
from edgecomp.data.pipeline import stream


def first_batch(data, **kwargs):
    images, targets = next(iter(stream(data, "train", 32, **kwargs)))
    return images.numpy(), targets


def test_evaluation_stream_equals_the_normalised_images_in_order(fmnist_small):
    images = np.concatenate([x.numpy() for x, _ in stream(fmnist_small, "val", 64)])
    np.testing.assert_array_equal(images, fmnist_small.images("val"))
    labels = np.concatenate([y.numpy() for _, y in stream(fmnist_small, "val", 64)])
    np.testing.assert_array_equal(labels, fmnist_small.labels("val"))


def test_training_stream_reshuffles_each_epoch_and_repeats_with_the_seed(fmnist_small):
    batches = stream(fmnist_small, "train", 32, shuffle=True, seed=3)
    epoch1 = next(iter(batches))[1].numpy()
    epoch2 = next(iter(batches))[1].numpy()
    again = next(iter(stream(fmnist_small, "train", 32, shuffle=True, seed=3)))[1].numpy()
    assert not np.array_equal(epoch1, epoch2)
    np.testing.assert_array_equal(epoch1, again)


def test_flip_mirrors_about_half_the_images(fmnist_small):
    plain, _ = first_batch(fmnist_small)
    flipped, _ = first_batch(fmnist_small, augment=AugmentConfig(flip=True))
    mirrored = [np.array_equal(f, p[:, ::-1]) and not np.array_equal(f, p) for f, p in zip(flipped, plain)]
    unchanged = [np.array_equal(f, p) for f, p in zip(flipped, plain)]
    assert all(m or u for m, u in zip(mirrored, unchanged))
    assert 4 <= sum(mirrored) <= 28


def test_shift_pads_black_and_crops_back_at_random_offsets(fmnist_small):
    plain, _ = first_batch(fmnist_small)
    shifted, _ = first_batch(fmnist_small, augment=AugmentConfig(shift=3))
    assert shifted.shape == plain.shape
    moved = 0
    for s, p in zip(shifted, plain):
        # Some offset (dy, dx) in [-3, 3] reproduces the shifted image from the original, zeros outside.
        padded = np.pad(p, ((3, 3), (3, 3), (0, 0)))
        matches = [(dy, dx) for dy in range(7) for dx in range(7) if np.array_equal(padded[dy:dy + 28, dx:dx + 28], s)]
        assert matches
        moved += (3, 3) not in matches
    assert moved >= 16


def test_mixup_mixes_images_and_one_hot_labels_with_one_weight(fmnist_small):
    plain, labels = first_batch(fmnist_small)
    mixed, soft = first_batch(fmnist_small, augment=AugmentConfig(mixup=0.4))
    soft = soft.numpy()
    assert soft.shape == (32, 10)
    np.testing.assert_allclose(soft.sum(-1), 1.0, rtol=1e-6)
    one_hot = np.eye(10)[labels.numpy()]
    lam = soft[0, labels.numpy()[0]] if labels.numpy()[0] != labels.numpy()[-1] else None
    if lam is not None:
        np.testing.assert_allclose(soft, lam * one_hot + (1 - lam) * one_hot[::-1], atol=1e-6)
        np.testing.assert_allclose(mixed, lam * plain + (1 - lam) * plain[::-1], atol=1e-5)


@pytest.mark.parametrize("setting,message", [({"shift": 1.5}, "whole pixels"), ({"mixup": -1}, "greater than or equal"),
                                             ({"flip": True, "rotate": 10}, "unknown key 'rotate'")])
def test_bad_augment_settings_are_plan_errors(setting, message):
    from edgecomp.core.errors import ConfigError
    from edgecomp.plan.plan import parse_plan

    with pytest.raises(ConfigError, match=message):
        parse_plan({"stages": [{"stage": "train", "augment": setting}]})


def test_mixup_is_refused_for_methods_that_need_unmixed_images():
    from edgecomp.core.errors import ConfigError
    from edgecomp.plan.plan import parse_plan

    with pytest.raises(ConfigError, match="method 'dlb' does not support mixup"):
        parse_plan({"stages": [{"stage": "train"}, {"stage": "distill", "method": "dlb", "augment": {"mixup": 0.2}}]})


def test_teacher_logits_default_follows_augmentation():
    from edgecomp.plan.stage_settings import DistillConfig

    assert DistillConfig().resolved().teacher_logits == "cached"
    assert DistillConfig(augment={"flip": True}).resolved().teacher_logits == "on_the_fly"
    assert DistillConfig(augment={"flip": True}, teacher_logits="cached").resolved().teacher_logits == "cached"
