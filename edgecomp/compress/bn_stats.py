"""Re-estimates BatchNormalization's population statistics after a training stage.

Keras keeps moving averages with momentum 0.99 (0.999 in keras.applications): after the few
hundred steps a small dataset gives, they still remember the initial mean 0 / variance 1, and the
model scores near chance in inference mode while training accuracy looks fine (issue 10: 42%
train, 11% validation). One pass over training batches fixes that: each BN layer's moving mean
and variance become the average of its batch statistics, computed with the final weights.

Why re-estimate rather than scale the momentum to the number of steps: a momentum short enough
for a few dozen steps still averages statistics of weights from earlier in training, and it
makes every short run noisy; a pass after training measures the network that is exported (the
same idea as `torch.optim.swa_utils.update_bn`). The pass is a training-mode forward (each BN
normalises with its batch statistics, as in training) with momentum k / (k + 1) at batch k, so
the moving values are the plain average over all batches. No augmentation; no weight changes.
"""

from __future__ import annotations

import math

from edgecomp.core.tfenv import keras
from edgecomp.data.pipeline import accuracy, stream

# Population statistics settle within a few thousand images; more only costs time.
MAX_IMAGES = 4096
# Before a validation during training: enough for an honest per-epoch figure, a small cost per epoch.
VALIDATION_IMAGES = 1024
# Moving averages that still weigh what they held this long ago by more than this are stale.
STALE_WEIGHT = 0.05


def trainable_bn_layers(model) -> list:
    """The BatchNormalization layers whose statistics training moves (nested models included).

    A frozen BN (trainable=False, e.g. a frozen backbone) runs in inference mode even in training,
    so its statistics are the backbone's own and stay as they are.
    """
    bn_class = keras().layers.BatchNormalization
    return [layer for layer in model.submodules if isinstance(layer, bn_class) and layer.trainable]

def reestimate_bn_statistics(model, data, batch_size: int = 128, max_images: int = MAX_IMAGES,
                             seed: int = 0) -> dict:
    """Sets every trainable BN layer's moving mean/variance to its average over training batches.

    Args:
        model: a built Keras model (changed in place: BN moving statistics only).
        data: the Dataset (its training split, normalised, never augmented).
        batch_size: images per forward pass (the batch statistics BN averages).
        max_images: at most this many training images are used.
        seed: picks which images.

    Returns:
        What was done, for the stage info: layers, batches, images, method.
    """

    layers = trainable_bn_layers(model)
    if not layers:
        return {"bn_layers": 0, "reestimated": False, "reason": "no trainable BatchNormalization layer"}
    batch_size = min(batch_size, data.count("train"))
    batches = math.ceil(min(max_images, data.count("train")) / batch_size)
    momenta = [layer.momentum for layer in layers]
    images_seen = 0
    try:
        for k, (images, _) in enumerate(stream(data, "train", batch_size, shuffle=True, seed=seed).take(batches)):
            for layer in layers:  # k / (k + 1): the running value becomes the mean over batches 0..k
                layer.momentum = k / (k + 1)
            model(images, training=True)  # eager: each BN reads its momentum now
            images_seen += int(images.shape[0])
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return {"bn_layers": len(layers), "reestimated": True, "batches": batches, "images": images_seen,
            "method": "average of batch statistics over one training-mode pass of unaugmented training "
                      "batches, after training"}

def refresh_before_validation(network, data, batch_size: int = 128, seed: int = 0):
    """A Keras callback that re-estimates `network`'s BN statistics before each per-epoch validation
    while its moving averages are stale; None when `network` has no trainable BN layer.

    Without it a short fit validates with moving averages that still remember the initial mean 0 /
    variance 1 (keras.applications' momentum 0.999 over 14 steps an epoch keeps 99% of them): every
    epoch's `val_accuracy` sits near chance, what the progress line shows and what `edgecomp search`'s
    early stopping compares trials on. Stale means: after the steps since the fit began (or the last
    refresh), the oldest statistics still weigh more than STALE_WEIGHT (momentum ** steps). A long
    epoch (the zoo on full Fashion-MNIST: 0.99 ** 422 = 0.014) never triggers it, so those fits run
    exactly as before. Training itself is unchanged: it normalises with batch statistics; only the
    moving averages, used in inference mode, are replaced.

    Not for pruning-wrapped or quantization-aware models: a training-mode pass would move their
    pruning masks or quantization ranges.
    """
    layers = trainable_bn_layers(network)
    if not layers:
        return None

    class RefreshBatchNormBeforeValidation(keras().callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps_since_refresh = 0
            self.refreshes = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps_since_refresh += 1

        def on_test_begin(self, logs=None):  # fit's per-epoch evaluate runs fit's callbacks too
            if max(layer.momentum for layer in layers) ** self.steps_since_refresh <= STALE_WEIGHT:
                return
            reestimate_bn_statistics(network, data, batch_size, VALIDATION_IMAGES, seed=seed + self.refreshes)
            self.refreshes += 1
            self.steps_since_refresh = 0

    return RefreshBatchNormBeforeValidation()

def reestimate_and_measure(model, data, batch_size: int = 128, seed: int = 0) -> dict:
    """`reestimate_bn_statistics` plus the validation accuracy before and after, for the stage info
    (a fit's own per-epoch `val_accuracy` was measured with the stale statistics)."""

    if not trainable_bn_layers(model):
        return reestimate_bn_statistics(model, data, batch_size, seed=seed)
    before = accuracy(model, data, "val", batch_size)
    info = reestimate_bn_statistics(model, data, batch_size, seed=seed)
    info.update(val_accuracy_before=before, val_accuracy_after=accuracy(model, data, "val", batch_size))
    return info
