"""A user's model whose outputs are in another class order than the dataset's labels.

A model trained on the same classes in another order scores below its real accuracy, at any
level (1 minus its accuracy on two swapped classes, 39% for a 10-class model whose order
matched on 4 classes). The confusion matrix shows the permutation outright: each model output
is mostly one dataset class. `check_class_order` reads the model's order from it and names it,
with the `dataset.classes` list that fixes an image folder.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from edgecomp.core.records import RunWarning
from edgecomp.data.pipeline import predict

ORDER_IMAGES = 500  # test images the confusion matrix is measured on (the first ones, like the near-chance check)
# The other order must gain this much accuracy: a correct model's few confusions gain nothing.
MIN_GAIN_POINTS = 5.0
# ... and every output it moves must clearly mean its new class: at least this many times the
# images of the output's own class, and at least MIN_MOVED_IMAGES (a weak model's scattered
# mistakes make no such column).
MOVE_DOMINANCE = 2.0
MIN_MOVED_IMAGES = 5


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts: row = the dataset's label, column = the model's output."""
    counts = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(counts, (np.asarray(labels, np.int64), np.asarray(predicted, np.int64)), 1)
    return counts

def model_class_order(confusion: np.ndarray) -> np.ndarray:
    """For each model output j, the dataset class it most likely means: (K,) label indices.

    Greedy on the largest counts first (each output and each class used once); classes never
    predicted keep their own index where it is free. A model that follows a permutation puts
    most of each row in one column, where greedy and an optimal assignment agree.
    """
    num_classes = len(confusion)
    order = np.full(num_classes, -1)
    used_labels: set[int] = set()
    for flat in np.argsort(-confusion, axis=None, kind="stable"):
        label, output = divmod(int(flat), num_classes)
        if confusion[label, output] == 0:
            break
        if order[output] < 0 and label not in used_labels:
            order[output] = label
            used_labels.add(label)
    free = [label for label in range(num_classes) if label not in used_labels]
    for output in np.flatnonzero(order < 0):  # outputs never predicted: their own index first
        label = int(output) if int(output) in free else free[0]
        order[output] = label
        free.remove(label)
    return order

def cycles(order: np.ndarray) -> list[list[int]]:
    """The cycles of the permutation `order` (output -> class), fixed points left out."""
    seen, found = set(), []
    for first in range(len(order)):
        if first in seen or order[first] == first:
            continue
        cycle, output = [], first
        while output not in seen:
            seen.add(output)
            cycle.append(output)
            output = int(order[output])
        found.append(cycle)
    return found

def keep_clear_moves(confusion: np.ndarray, order: np.ndarray) -> np.ndarray:
    """`order` with each cycle whose moves are not all clear put back in the dataset's order.

    A move (output j read as class i) is clear when confusion[i, j] is at least MOVE_DOMINANCE times
    confusion[j, j] and at least MIN_MOVED_IMAGES: a weak model's scattered mistakes make no such
    column, so only the classes the model really holds in another order are moved.
    """
    kept = np.arange(len(order))
    for cycle in cycles(order):
        new_counts, own_counts = confusion[order[cycle], cycle], confusion[cycle, cycle]  # (M,), (M,)
        if ((new_counts >= MOVE_DOMINANCE * own_counts) & (new_counts >= MIN_MOVED_IMAGES)).all():
            kept[cycle] = order[cycle]
    return kept

def check_class_order(model, data, folder: bool) -> Optional[RunWarning]:
    """A `class_order` warning naming the order the model's outputs follow, when reading them in that
    order scores at least MIN_GAIN_POINTS more on the first `ORDER_IMAGES` test images; only the
    outputs that clearly mean another class are moved (`keep_clear_moves`).

    Args:
        model: the loaded (or fine-tuned) user model.
        data: the Dataset the build measures it on.
        folder: the dataset is an image folder, whose order `dataset.classes` sets.
    """
    count = min(ORDER_IMAGES, data.count("test"))
    labels = data.labels("test", count)
    predicted = np.asarray(predict(model, data, "test", limit=count)).argmax(-1)
    confusion = confusion_matrix(labels, predicted, data.num_classes)
    order = keep_clear_moves(confusion, model_class_order(confusion))
    accuracy = np.trace(confusion) / count
    reordered = confusion[order, np.arange(len(order))].sum() / count
    if 100 * (reordered - accuracy) < MIN_GAIN_POINTS:
        return None
    names = [data.class_names[label] for label in order]
    moved = [f"class {output} is the dataset's {names[output]!r}" for output in range(len(order))
             if order[output] != output]
    message = (f"model {model.name} scores {accuracy:.1%} on {count} test images, and {reordered:.1%} when its "
               f"outputs are read in another class order: the model's {', '.join(moved)} "
               f"({len(moved)} of {len(order)} classes differ from the dataset's order).")
    if folder:
        hint = f"set `dataset.classes: [{', '.join(names)}]` (the folder's class names in the model's output order)."
    else:
        hint = (f"the model was trained with another label order than {data.name}'s; retrain it on these labels, "
                f"or bring the images as a folder and set `dataset.classes: [{', '.join(names)}]`.")
    return RunWarning("class_order", message, hint)
