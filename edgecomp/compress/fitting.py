"""The one training loop of edgecomp: Adam with cosine decay, a progress bar, a fit summary.

Every stage that trains (train, prune fine-tuning, qat, each distillation method) goes through
`fit` (a plain model on labels) or `fit_wrapper` (a keras.Model whose own train_step computes a
distillation loss); both end in `fit_compiled`, so progress, validation and the recorded summary
are the same everywhere.
"""

from __future__ import annotations

import time

from edgecomp.compress.bn_stats import refresh_before_validation
from edgecomp.compress.time_budget import budget_callback
from edgecomp.core.progress import keras_progress_callback, step
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

def restore_best_callback(network, first_eligible_epoch: int = 0, monitor: str = "val_accuracy"):
    """A Keras callback that keeps the weights of the epoch with the best validation accuracy and
    puts them back into `network` when the fit ends, instead of the last epoch's.

    On small data the last epoch is often not the best one: a few hundred images of validation
    move by a point or more from epoch to epoch, and a long schedule can overfit. Ties go to the
    later epoch. The saved weights include BatchNorm statistics and QAT ranges (`get_weights`).

    Args:
        network: the model whose weights are kept (the student inside a distillation wrapper, the
            pruning-wrapped or quantization-aware model itself).
        first_eligible_epoch: 0-based; earlier epochs are never kept (pruning: before the
            schedule reaches its target sparsity, a model is not yet as sparse as it must be).
        monitor: the fit's log key to maximise.

    Returns:
        The callback; after the fit its `record()` says which epoch was kept and what that changed.

    Examples:
        >>> callback = restore_best_callback(model)  # doctest: +SKIP
        >>> model.fit(..., callbacks=[callback]); callback.record()["epoch"]  # doctest: +SKIP
        3
    """

    class RestoreBestWeights(keras().callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best_value, self.best_epoch, self.best_weights = None, None, None
            self.last_value, self.last_epoch = None, None

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(monitor)
            if value is None:
                return
            self.last_value, self.last_epoch = float(value), epoch
            if epoch >= first_eligible_epoch and (self.best_value is None or value >= self.best_value):
                self.best_value, self.best_epoch, self.best_weights = float(value), epoch, network.get_weights()

        def on_train_end(self, logs=None):
            if self.best_weights is not None and self.best_epoch != self.last_epoch:
                network.set_weights(self.best_weights)
            self.best_weights = None  # the copy is not kept past the fit

        def record(self) -> dict:
            restored = self.best_epoch is not None and self.best_epoch != self.last_epoch
            return {"monitor": monitor, "epoch": None if self.best_epoch is None else self.best_epoch + 1,
                    "value": self.best_value, "last_epoch": None if self.last_epoch is None else self.last_epoch + 1,
                    "last_value": self.last_value, "first_eligible_epoch": first_eligible_epoch + 1,
                    "restored": restored}

    return RestoreBestWeights()

def fit_compiled(model, train_batches, data, epochs: int, steps: int, label: str, batch_size: int,
                 callbacks: list | None = None, one_hot_validation: bool = False, fresh_bn_of=None,
                 seed: int = 0, restore_best=None) -> dict:
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
        restore_best: a `restore_best_callback`, run last, so it keeps the weights as validated
            (after any re-estimation); its record goes into the result as `best_weights`. None: the
            last epoch's weights stay.

    Returns:
        Epochs, seconds per epoch and the per-epoch history (and `best_weights`).
    """

    refresh = None if fresh_bn_of is None else refresh_before_validation(fresh_bn_of, data, batch_size, seed)
    budget = budget_callback(epochs, steps)  # inside a build's --time-budget: may stop the fit at its start
    started = time.perf_counter()
    progress = keras_progress_callback(epochs, steps, label)
    try:
        history = model.fit(
            train_batches, epochs=epochs, validation_data=stream(data, "val", batch_size, one_hot=one_hot_validation),
            verbose=0, callbacks=[progress] + ([budget] if budget else []) + list(callbacks or [])
            + ([refresh] if refresh else []) + ([restore_best] if restore_best is not None else []),
        )
    finally:  # Keras calls no on_train_end when fit raises (a Ctrl-C): the bar must not stay on screen
        progress.close()
    info = fit_summary(history, time.perf_counter() - started, epochs)
    if restore_best is not None:
        info["best_weights"] = kept = restore_best.record()
        if kept["restored"]:
            step(f"{label}: kept epoch {kept['epoch']}'s weights (val_accuracy {kept['value']:.4f}) instead of the last "
                 f"epoch's ({kept['last_value']:.4f})")
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
        extra_callbacks: list | None = None, augment=None, seed: int = 0, fresh_bn: bool = False,
        restore_best=None) -> dict:
    """Trains `model` on the dataset's train split, validating on its validation split.

    Batches stream from the uint8 images through tf.data (`edgecomp.data.pipeline`), normalised
    and, when `augment` is on, augmented on the fly. fresh_bn: re-estimate stale BatchNorm
    statistics before each validation (not for pruning-wrapped or quantization-aware models).
    restore_best: a `restore_best_callback` (see fit_compiled); None: the last epoch's weights.

    Returns:
        The history (per-epoch metrics), the seconds per epoch and the augmentation used.
    """

    steps = batches_per_epoch(data.count("train"), batch_size)
    mixup = augment is not None and augment.mixup > 0
    compile_for_training(model, learning_rate, epochs * steps, soft_labels=mixup)
    train_batches = stream(data, "train", batch_size, shuffle=True, seed=seed, augment=augment)
    info = fit_compiled(model, train_batches, data, epochs, steps, label, batch_size, extra_callbacks,
                        one_hot_validation=mixup, fresh_bn_of=model if fresh_bn else None, seed=seed,
                        restore_best=restore_best)
    info["augment"] = augment.describe(data.input_shape) if augment is not None else {"enabled": False}
    return info

def compile_wrapper(wrapper, learning_rate: float, total_steps: int) -> None:
    """Adam with cosine decay, as `compile_for_training`; the wrapper computes its own loss."""
    wrapper.compile(optimizer=cosine_adam(learning_rate, total_steps))

def fit_wrapper(wrapper, train_batches, data, epochs: int, steps: int, learning_rate: float, label: str,
                batch_size: int, callbacks: list | None = None, fresh_bn_of=None, seed: int = 0,
                restore_best=None) -> dict:
    """Compiles and fits a training wrapper (its own train_step), validating on the val split.

    Args:
        wrapper: a keras.Model whose train_step/test_step compute the method's loss.
        train_batches: a tf.data.Dataset of (images, targets) (`edgecomp.data.pipeline.stream`).
        data: the Dataset (for validation).
        steps: optimizer steps per epoch.
        batch_size: validation batch size.
        fresh_bn_of: the trained network inside the wrapper, whose stale BatchNorm statistics are
            re-estimated before each validation (see fit_compiled); None: never.
        restore_best: a `restore_best_callback` on the trained network (see fit_compiled).

    Returns:
        Epochs, seconds per epoch and the per-epoch history.
    """
    compile_wrapper(wrapper, learning_rate, epochs * steps)
    return fit_compiled(wrapper, train_batches, data, epochs, steps, label, batch_size, callbacks,
                        fresh_bn_of=fresh_bn_of, seed=seed, restore_best=restore_best)

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
