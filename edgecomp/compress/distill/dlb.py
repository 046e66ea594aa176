"""Self-distillation from the last mini-batch (Shen et al., CVPR 2022, arXiv:2203.16172).

Batch t is [chunk t, chunk t+1] of a per-epoch shuffle cut into chunks of h = batch_size / 2
samples, so its first half is the previous batch's second half. The softened predictions the
model made for that half at step t-1 are stored and become its soft targets at step t: no
teacher and no extra forward pass. Every sample is seen twice per epoch (twice the steps of
plain training at the same batch size), as in the paper.
"""

from __future__ import annotations

import functools

import numpy as np

from edgecomp.compress.distill.base import DistillConfig, DistillMethod, check_outputs_logits, register
from edgecomp.compress.distill.losses import cross_entropy, dlb_loss
from edgecomp.compress.fitting import fit_wrapper
from edgecomp.core.errors import UsageError
from edgecomp.core.progress import step
from edgecomp.core.tfenv import keras, tf
from edgecomp.data.pipeline import stream


@functools.cache
def dlb_classes():
    """(DlbTrainer, ResetTargets), created on first use."""
    tf_, keras_ = tf(), keras()

    class DlbTrainer(keras_.Model):
        """Trains `model` on the DLB loss, storing the new half's softened predictions each step."""

        def __init__(self, model, half: int, temperature: float, alpha: float):
            super().__init__(name="dlb_trainer")
            self.network = model
            self.temperature, self.alpha = temperature, alpha
            classes = int(model.output_shape[-1])
            self.prev_batch_soft_targets = tf_.Variable(tf_.zeros((half, classes)), trainable=False,
                                                        name="prev_batch_soft_targets")  # (h, K)
            self.has_targets = tf_.Variable(0.0, trainable=False, name="has_targets")
            self.loss_tracker = keras_.metrics.Mean(name="loss")
            self.kl_tracker = keras_.metrics.Mean(name="kl")
            self.accuracy = keras_.metrics.SparseCategoricalAccuracy(name="accuracy")

        @property
        def metrics(self):
            return [self.loss_tracker, self.kl_tracker, self.accuracy]

        def call(self, images, training=False):
            return self.network(images, training=training)

        def train_step(self, data):
            images, labels = data  # (2h, H, W, C), (2h,)
            half = tf_.shape(self.prev_batch_soft_targets)[0]
            with tf_.GradientTape() as tape:
                logits = self.network(images, training=True)  # (2h, K)
                loss, _, kl = dlb_loss(labels, logits, self.prev_batch_soft_targets,
                                       self.temperature, self.alpha, self.has_targets)
            variables = self.network.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            # The new half comes back as the next batch's repeated half: keep its soft predictions.
            self.prev_batch_soft_targets.assign(
                tf_.stop_gradient(tf_.nn.softmax(logits[half:] / self.temperature, axis=-1)))
            self.has_targets.assign(1.0)
            self.loss_tracker.update_state(loss)
            self.kl_tracker.update_state(kl)
            self.accuracy.update_state(labels, logits)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            images, labels = data
            logits = self.network(images, training=False)
            self.loss_tracker.update_state(cross_entropy(labels, logits))
            self.accuracy.update_state(labels, logits)
            return {m.name: m.result() for m in self.metrics}

    class ResetTargets(keras_.callbacks.Callback):
        """A new epoch starts a new chain: its first batch has no previous step to learn from."""

        def __init__(self, trainer):
            super().__init__()
            self.trainer = trainer

        def on_epoch_begin(self, epoch, logs=None):
            self.trainer.has_targets.assign(0.0)

    return DlbTrainer, ResetTargets

def last_batch_order(count: int, half: int, seed: int):
    """A generator function of index batches [chunk t; chunk t+1] of a fresh shuffle each epoch.

    The chunks are h = batch_size / 2 indices of one permutation, so batch t's first half is batch
    t-1's second half. Returns (generator function, batches per epoch).
    """
    rng = np.random.default_rng(seed)
    chunks = count // half

    def epoch():
        order = rng.permutation(count)[: chunks * half]
        for t in range(chunks - 1):
            yield order[t * half: (t + 2) * half]  # (2h,): repeated half, new half

    return epoch, chunks - 1

def train_dlb(model, data, cfg: DistillConfig, seed: int = 0) -> dict:
    """Trains `model` in place with DLB. Returns the training info."""

    trainer_class, reset_class = dlb_classes()
    half = cfg.batch_size // 2
    order, steps = last_batch_order(data.count("train"), half, seed)
    # Augmentation is per batch: the repeated half is seen under a new flip/shift at step t than
    # at t-1, and its soft targets come from the earlier view (as in the paper's augmented CIFAR).
    augment = cfg.augment if cfg.augment.enabled else None
    train_batches = stream(data, "train", cfg.batch_size, seed=seed, augment=augment, index_batches=order)
    trainer = trainer_class(model, half, cfg.temperature, cfg.alpha)
    info = fit_wrapper(trainer, train_batches, data, cfg.epochs, steps, cfg.learning_rate, "dlb", cfg.batch_size,
                       callbacks=[reset_class(trainer)], fresh_bn_of=model, seed=seed)
    info.update({"steps_per_epoch": steps, "half_batch": half, "augment": cfg.augment.describe(data.input_shape)})
    return info

def check_dlb(ctx, cfg: DistillConfig) -> None:
    check_outputs_logits(ctx.model, "model")
    if ctx.data.count("train") < 2 * cfg.batch_size:
        raise UsageError(f"dlb needs at least 2 x batch_size = {2 * cfg.batch_size} training images; "
                         f"the dataset has {ctx.data.count('train')}. Lower batch_size.")

def run_dlb(ctx, cfg: DistillConfig) -> dict:
    model = keras().models.clone_model(ctx.model) if cfg.reinitialize else ctx.model
    step(f"DLB self-distillation of {model.name}, T={cfg.temperature}, alpha={cfg.alpha}")
    info = train_dlb(model, ctx.data, cfg, seed=ctx.plan.seed)
    ctx.model = model
    return info

register("dlb", DistillMethod(run=run_dlb, check=check_dlb))
