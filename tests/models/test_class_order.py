"""A user's model in another class order than the dataset's is told which order fixes it."""

from __future__ import annotations

import numpy as np
import pytest

from edgecomp.models.class_order import check_class_order, confusion_matrix, keep_clear_moves, model_class_order


def test_the_model_order_is_read_from_the_confusion_matrix():
    labels = np.repeat([0, 1, 2], 10)
    predicted = np.concatenate([[1] * 8 + [0] * 2, [0] * 9 + [2], [2] * 7 + [1] * 3])  # outputs 0 and 1 swapped
    confusion = confusion_matrix(labels, predicted, 3)
    assert confusion.tolist() == [[2, 8, 0], [9, 0, 1], [0, 3, 7]]
    order = model_class_order(confusion)
    assert order.tolist() == [1, 0, 2]  # output 0 means class 1, output 1 means class 0
    assert keep_clear_moves(confusion, order).tolist() == [1, 0, 2]
    scattered = confusion_matrix(labels, np.concatenate([[1] * 4 + [0] * 6, [0] * 9 + [2], [2] * 10]), 3)
    # Output 1 is class 0 only 4 times: the swap is not clear, so nothing moves.
    assert keep_clear_moves(scattered, np.array([1, 0, 2])).tolist() == [0, 1, 2]


@pytest.fixture(scope="module")
def swapped_model(fmnist_small):
    """The zoo's tiny CNN trained 3 epochs on Fashion-MNIST with T-shirt/top (0) and Trouser (1) swapped."""
    from edgecomp.compress.bn_stats import reestimate_bn_statistics
    from edgecomp.compress.fitting import fit
    from edgecomp.core.tfenv import seed_everything
    from edgecomp.models.zoo import build_zoo_model

    seed_everything(0)
    labels = fmnist_small.labels("train")
    swapped = np.choose(np.clip(labels, 0, 2), [1, 0, 2]) * (labels <= 1) + labels * (labels > 1)
    trained_on = fmnist_small.with_train(fmnist_small.pixels("train"), swapped)
    model = build_zoo_model("cnn-tiny", fmnist_small.input_shape, fmnist_small.num_classes)
    fit(model, trained_on, epochs=3, batch_size=64, learning_rate=3e-3, label="swapped")
    reestimate_bn_statistics(model, trained_on)
    return model


def test_a_model_with_two_classes_swapped_is_told_which_order_fixes_it(swapped_model, fmnist_small):
    warning = check_class_order(swapped_model, fmnist_small, folder=True)
    assert warning is not None and warning.code == "class_order"
    assert "class 0 is the dataset's 'Trouser', class 1 is the dataset's 'T-shirt/top'" in warning.message
    assert "(2 of 10 classes differ" in warning.message
    names = fmnist_small.class_names
    assert warning.hint.startswith(f"set `dataset.classes: [{', '.join([names[1], names[0], *names[2:]])}]`")
    other = check_class_order(swapped_model, fmnist_small, folder=False)
    assert "retrain it on these labels" in other.hint


def test_a_model_in_the_datasets_order_gets_no_class_order_warning(tiny_model, fmnist_small):
    assert check_class_order(tiny_model, fmnist_small, folder=True) is None
