"""Parity judged by what a user cares about: a quantized file's accuracy against its Keras model on
the same images (with a paired 95% interval) and its output error; top-1 agreement reported beside.

The arrays are the tiny model's real Keras outputs and its real int8 file's outputs on real test
images; where a test moves predictions, it says which and why."""

import numpy as np
import pytest

from edgecomp.core.errors import UsageError
from edgecomp.exporters.parity import check_parity, judge_parity, paired_accuracy, run_tflite
from edgecomp.plan.precisions import PRECISIONS

INT8 = PRECISIONS.get("int8").parity


@pytest.fixture(scope="module")
def real_outputs(tiny_model, tiny_tflite, fmnist_small):
    """(keras outputs, int8 file outputs, labels) on 500 real test images."""
    images, labels = fmnist_small.images("test", 500), fmnist_small.labels("test", 500)
    return tiny_model.predict(images, verbose=0), run_tflite(tiny_tflite["int8"], images), labels


def _swap_top_two(outputs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The same scores with the two largest swapped on `rows`: the prediction becomes the runner-up."""
    moved = outputs.copy()
    top_two = np.argsort(outputs[rows], axis=-1)[:, -2:]  # (R, 2): runner-up, top
    moved[rows, top_two[:, 1]], moved[rows, top_two[:, 0]] = outputs[rows, top_two[:, 0]], outputs[rows, top_two[:, 1]]
    return moved


def _flips(keras, file_outputs, labels, count):
    """`count` images the file gets right, and `count` it gets wrong with the true class as
    runner-up, all where it agrees with Keras: swapping the top two on both sets moves as many
    images to wrong as to right, and each away from Keras' answer."""
    top, runner_up = np.argsort(file_outputs, -1)[:, -1], np.argsort(file_outputs, -1)[:, -2]
    rows = np.arange(len(labels))
    # int8 scores are discrete: a tie between the top two would not move when swapped.
    agrees = (top == keras.argmax(-1)) & (file_outputs[rows, top] > file_outputs[rows, runner_up])
    right = np.flatnonzero(agrees & (top == labels))[:count]
    recoverable = np.flatnonzero(agrees & (top != labels) & (runner_up == labels))[:count]
    assert len(right) == len(recoverable) == count, "the tiny model has too few near misses for this test"
    return right, recoverable


def _scores(right: np.ndarray) -> np.ndarray:
    """(N, 2) scores predicting class 0 where `right`, class 1 elsewhere."""
    return np.stack([right, ~right], axis=-1).astype(np.float32)


def test_paired_interval_by_hand():
    """10 images: Keras right on 8, the file on 6; 3 only Keras gets right, 1 only the file.
    drop = (3 - 1) / 10 = 20 pt; se = sqrt(3 + 1 - 2^2 / 10) / 10 = 0.18974; margin = 1.96 se + 1/10."""
    labels = np.zeros(10, int)
    keras_right = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], bool)
    file_right = np.array([1, 1, 1, 1, 1, 0, 0, 0, 1, 0], bool)
    result = paired_accuracy(_scores(keras_right), _scores(file_right), labels)
    assert (result["keras_accuracy"], result["file_accuracy"]) == (0.8, 0.6)
    assert (result["only_keras_right"], result["only_file_right"]) == (3, 1)
    assert result["accuracy_drop"] == pytest.approx(0.2)
    assert result["accuracy_drop_ci95"] == pytest.approx([0.2 - 0.47189, 0.2 + 0.47189], abs=1e-4)


def test_a_file_as_accurate_with_low_agreement_passes_by_accuracy(real_outputs):
    """The real int8 outputs with the top two swapped on 16 images it gets right and 16 it gets
    wrong (runner-up true): accuracy unchanged, agreement below int8's 95% (and the old 97%)."""
    keras, file_outputs, labels = real_outputs
    right, recoverable = _flips(keras, file_outputs, labels, 16)
    moved = _swap_top_two(file_outputs, np.concatenate([right, recoverable]))
    judged = judge_parity(INT8, keras, moved, labels)
    assert judged["top1_agreement"] < INT8.min_top1_agreement < 0.97
    assert judged["file_accuracy"] == pytest.approx(judge_parity(INT8, keras, file_outputs, labels)["file_accuracy"])
    assert judged["passed"] and judged["decided_by"] == "accuracy", judged
    # Without labels the agreement alone decides, and fails it: the labels are what pass it.
    without = judge_parity(INT8, keras, moved)
    assert not without["passed"] and without["decided_by"] == "top1_agreement"


def test_the_same_disagreement_all_lost_fails(real_outputs):
    """The same number of moved predictions, all on images the file gets right: a 6.4-point loss."""
    keras, file_outputs, labels = real_outputs
    right, _ = _flips(keras, file_outputs, labels, 32)
    judged = judge_parity(INT8, keras, _swap_top_two(file_outputs, right), labels)
    assert judged["accuracy_drop"] > INT8.max_accuracy_drop_points / 100 and judged["accuracy_drop_ci95"][0] > 0
    assert not judged["passed"] and "less accurate" in judged["reason"], judged


def test_right_answers_with_wrong_scores_fail_on_output_error(real_outputs):
    """A file whose argmax is right but whose scores are 4x too large (a wrong output scale)."""
    keras, file_outputs, labels = real_outputs
    judged = judge_parity(INT8, keras, file_outputs * 4, labels)
    assert judged["accuracy_drop"] == judge_parity(INT8, keras, file_outputs, labels)["accuracy_drop"]
    assert not judged["passed"] and judged["reason"].startswith("outputs off"), judged


def test_the_real_int8_file_passes_and_records_the_numbers(real_outputs):
    keras, file_outputs, labels = real_outputs
    judged = judge_parity(INT8, keras, file_outputs, labels)
    assert judged["passed"], judged
    for key in ("keras_accuracy", "file_accuracy", "accuracy_drop", "accuracy_drop_ci95", "top1_agreement",
                "max_abs_diff", "mean_abs_diff", "reason"):
        assert key in judged
    assert set(judged["thresholds"]) == {"min_top1_agreement", "max_abs_diff", "max_accuracy_drop",
                                         "max_mean_abs_diff"}


def test_each_precision_is_judged_by_its_own_rule(tiny_model, tiny_tflite, fmnist_small):
    images, labels = fmnist_small.images("test", 100), fmnist_small.labels("test", 100)
    keras = tiny_model.predict(images, verbose=0)
    for name in ("int8", "int8_mixed"):
        checked = check_parity(tiny_tflite["int8"], name, keras, images, labels)
        assert checked["precision"] == name
        assert checked["thresholds"]["min_top1_agreement"] == PRECISIONS.get(name).parity.min_top1_agreement
    with pytest.raises(UsageError, match="Did you mean 'int8'"):
        check_parity(tiny_tflite["int8"], "int9", keras, images, labels)  # no silent fallback to a rule
