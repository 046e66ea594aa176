"""The one training loop of edgecomp: Adam with cosine decay, a progress bar, a fit summary.

Every stage that trains (train, prune fine-tuning, qat, each distillation method) goes through
`fit` (a plain model on labels) or `fit_wrapper` (a keras.Model whose own train_step computes a
distillation loss); both end in `fit_compiled`, so progress, validation and the recorded summary
are the same everywhere.
"""

from __future__ import annotations

import time

from edgecomp.compress.bn_stats import refresh_before_validation
from edgecomp.core.progress import keras_progress_callback
from edgecomp.core.tfenv import keras
from edgecomp.data.pipeline import stream


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

def fit_compiled(model, train_batches, data, epochs: int, steps: int, label: str, batch_size: int,
                 callbacks: list | None = None, one_hot_validation: bool = False, fresh_bn_of=None,
                 seed: int = 0) -> dict:
    """Fits an already compiled model, validating on the dataset's validation split.

    Args:
        model: a compiled keras.Model (a plain model, or a wrapper with its own train_step).
        train_batches: a tf.data.Dataset of (images, targets) (`edgecomp.data.pipeline.stream`).
        data: the Dataset (its validation split, streamed in batches of `batch_size`).
        steps: optimizer steps per epoch, for the progress bar.
        label: what the progress bar calls this run ("train", "prune (global)").
        one_hot_validation: validation labels one-hot (a model trained on mixup's soft labels).
        fresh_bn_of: the network whose BatchNorm statistics are re-estimated before a validation
            while they are stale (`compress.bn_stats.refresh_before_validation`); None: never.
        seed: picks the images of those re-estimations.

    Returns:
        Epochs, seconds per epoch and the per-epoch history.
    """

    refresh = None if fresh_bn_of is None else refresh_before_validation(fresh_bn_of, data, batch_size, seed)
    started = time.perf_counter()
    progress = keras_progress_callback(epochs, steps, label)
    try:
        history = model.fit(
            train_batches, epochs=epochs, validation_data=stream(data, "val", batch_size, one_hot=one_hot_validation),
            verbose=0, callbacks=[progress] + list(callbacks or []) + ([refresh] if refresh else []),
        )
    finally:  # Keras calls no on_train_end when fit raises (a Ctrl-C): the bar must not stay on screen
        progress.close()
    info = fit_summary(history, time.perf_counter() - started, epochs)
    if refresh is not None:  # the history's val_* were measured with re-estimated statistics that often
        info["bn_refreshed_before_validation"] = refresh.refreshes
    return info

def compile_for_training(model, learning_rate: float, total_steps: int, soft_labels: bool = False):
    """Adam with cosine decay on logits; the loss every zoo and user model is trained with.

    soft_labels: targets are (B, K) probabilities (mixup) instead of integer labels.
    """
    losses = keras().losses
    model.compile(
        optimizer=cosine_adam(learning_rate, total_steps),
        loss=(losses.CategoricalCrossentropy(from_logits=True) if soft_labels
              else losses.SparseCategoricalCrossentropy(from_logits=True)),
        metrics=["accuracy"],
    )

def fit(model, data, epochs: int, batch_size: int, learning_rate: float, label: str,
        extra_callbacks: list | None = None, augment=None, seed: int = 0, fresh_bn: bool = False) -> dict:
    """Trains `model` on the dataset's train split, validating on its validation split.

    Batches stream from the uint8 images through tf.data (`edgecomp.data.pipeline`), normalised
    and, when `augment` is on, augmented on the fly. fresh_bn: re-estimate stale BatchNorm
    statistics before each validation (not for pruning-wrapped or quantization-aware models).

    Returns:
        The history (per-epoch metrics), the seconds per epoch and the augmentation used.
    """

    steps = batches_per_epoch(data.count("train"), batch_size)
    mixup = augment is not None and augment.mixup > 0
    compile_for_training(model, learning_rate, epochs * steps, soft_labels=mixup)
    train_batches = stream(data, "train", batch_size, shuffle=True, seed=seed, augment=augment)
    info = fit_compiled(model, train_batches, data, epochs, steps, label, batch_size, extra_callbacks,
                        one_hot_validation=mixup, fresh_bn_of=model if fresh_bn else None, seed=seed)
    info["augment"] = augment.describe(data.input_shape) if augment is not None else {"enabled": False}
    return info

def compile_wrapper(wrapper, learning_rate: float, total_steps: int) -> None:
    """Adam with cosine decay, as `compile_for_training`; the wrapper computes its own loss."""
    wrapper.compile(optimizer=cosine_adam(learning_rate, total_steps))

def fit_wrapper(wrapper, train_batches, data, epochs: int, steps: int, learning_rate: float, label: str,
                batch_size: int, callbacks: list | None = None, fresh_bn_of=None, seed: int = 0) -> dict:
    """Compiles and fits a training wrapper (its own train_step), validating on the val split.

    Args:
        wrapper: a keras.Model whose train_step/test_step compute the method's loss.
        train_batches: a tf.data.Dataset of (images, targets) (`edgecomp.data.pipeline.stream`).
        data: the Dataset (for validation).
        steps: optimizer steps per epoch.
        batch_size: validation batch size.
        fresh_bn_of: the trained network inside the wrapper, whose stale BatchNorm statistics are
            re-estimated before each validation (see fit_compiled); None: never.

    Returns:
        Epochs, seconds per epoch and the per-epoch history.
    """
    compile_wrapper(wrapper, learning_rate, epochs * steps)
    return fit_compiled(wrapper, train_batches, data, epochs, steps, label, batch_size, callbacks,
                        fresh_bn_of=fresh_bn_of, seed=seed)

def fit_keras3(model, data, epochs: int, batch_size: int, learning_rate: float) -> dict:
    """Fine-tunes a Keras 3 model (one the bridge could not rebuild) with Keras 3's own optimizer,
    the same recipe as `edgecomp.compress.fitting.fit`: Adam, cosine decay to 0, logits loss."""
    import keras as keras3

    steps = -(-data.count("train") // batch_size)
    schedule = keras3.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, epochs * steps))
    model.compile(optimizer=keras3.optimizers.Adam(schedule), metrics=["accuracy"],
                  loss=keras3.losses.SparseCategoricalCrossentropy(from_logits=True))
    started = time.perf_counter()
    history = model.fit(data.images("train"), data.labels("train"), batch_size=batch_size, epochs=epochs, shuffle=True,
                        validation_data=(data.images("val"), data.labels("val")), verbose=0)
    return fit_summary(history, time.perf_counter() - started, epochs)
