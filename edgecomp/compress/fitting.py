"""The one training loop of edgecomp: Adam with cosine decay, a progress bar, a fit summary.

Every stage that trains (train, prune fine-tuning, qat, each distillation method) goes through
`fit` (a plain model on labels) or `fit_wrapper` (a keras.Model whose own train_step computes a
distillation loss); both end in `fit_compiled`, so progress, validation and the recorded summary
are the same everywhere.
"""

from __future__ import annotations

import time

from edgecomp.progress import keras_progress_callback
from edgecomp.tfenv import keras


def cosine_adam(learning_rate: float, total_steps: int):
    """The optimizer every edgecomp training uses: Adam with the learning rate cosine-decayed to 0."""
    schedule = keras().optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, total_steps))
    return keras().optimizers.Adam(schedule)


def fit_summary(history, seconds: float, epochs: int) -> dict:
    """What a stage records about a Keras fit: epochs, seconds per epoch, per-epoch metrics."""
    return {
        "epochs": epochs,
        "seconds_per_epoch": seconds / max(1, epochs),
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
    }


def batches_per_epoch(samples: int, batch_size: int) -> int:
    return -(-samples // batch_size)


def fit_compiled(model, x, y, data, epochs: int, steps: int, label: str, batch_size: int | None = None,
                 callbacks: list | None = None) -> dict:
    """Fits an already compiled model, validating on the dataset's validation split.

    Args:
        model: a compiled keras.Model (a plain model, or a wrapper with its own train_step).
        x, y: training inputs and targets (arrays, shuffled in batches of `batch_size`), or `x` a
            keras Sequence that batches itself and `y` None.
        data: the Dataset (its x_val, y_val).
        steps: optimizer steps per epoch, for the progress bar.
        label: what the progress bar calls this run ("train", "prune (global)").

    Returns:
        Epochs, seconds per epoch and the per-epoch history.
    """
    batching = {"batch_size": batch_size, "shuffle": True} if y is not None else {"shuffle": False}
    started = time.perf_counter()
    history = model.fit(
        x, y, epochs=epochs, validation_data=(data.x_val, data.y_val), verbose=0,
        callbacks=[keras_progress_callback(epochs, steps, label)] + list(callbacks or []), **batching,
    )
    return fit_summary(history, time.perf_counter() - started, epochs)


def compile_for_training(model, learning_rate: float, total_steps: int):
    """Adam with cosine decay on logits; the loss every zoo and user model is trained with."""
    model.compile(
        optimizer=cosine_adam(learning_rate, total_steps),
        loss=keras().losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def fit(model, data, epochs: int, batch_size: int, learning_rate: float, label: str,
        extra_callbacks: list | None = None) -> dict:
    """Trains `model` on the dataset's train split, validating on its validation split.

    Returns:
        The history (per-epoch metrics) and the seconds per epoch.
    """
    steps = batches_per_epoch(len(data.x_train), batch_size)
    compile_for_training(model, learning_rate, epochs * steps)
    return fit_compiled(model, data.x_train, data.y_train, data, epochs, steps, label, batch_size, extra_callbacks)


def compile_wrapper(wrapper, learning_rate: float, total_steps: int) -> None:
    """Adam with cosine decay, as `compile_for_training`; the wrapper computes its own loss."""
    wrapper.compile(optimizer=cosine_adam(learning_rate, total_steps))


def fit_wrapper(wrapper, x, y, data, epochs: int, batch_size: int, learning_rate: float, label: str,
                steps_per_epoch: int | None = None, callbacks: list | None = None) -> dict:
    """Compiles and fits a training wrapper (its own train_step), validating on the val split.

    Args:
        wrapper: a keras.Model whose train_step/test_step compute the method's loss.
        x, y: training inputs and targets (arrays), or `x` a keras Sequence and `y` None.
        data: the Dataset (for validation).
        steps_per_epoch: optimizer steps per epoch, when `x` is a Sequence.

    Returns:
        Epochs, seconds per epoch and the per-epoch history.
    """
    steps = steps_per_epoch or batches_per_epoch(len(x), batch_size)
    compile_wrapper(wrapper, learning_rate, epochs * steps)
    return fit_compiled(wrapper, x, y, data, epochs, steps, label, batch_size, callbacks)
