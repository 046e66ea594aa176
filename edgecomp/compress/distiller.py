"""The KD training loop: the Distiller wrapper (student learns a teacher's softened outputs plus
the labels), `distill_kd` that fits it, and the teacher's cached training logits.

Used by the distill stage's kd and takd methods and by `teacher_kd` fine-tuning after pruning
and during QAT (`edgecomp.compress.fine_tune`). It sits outside `edgecomp.compress.distill` so
those stages can use it without importing the distillation methods (which import pruning).
"""

from __future__ import annotations

import functools

from edgecomp.compress.distill.losses import cross_entropy, hard_labels, kd_loss
from edgecomp.compress.fitting import fit_wrapper, restore_best_callback
from edgecomp.core.cache_store import cached_array, model_fingerprint
from edgecomp.core.tfenv import keras, tf
from edgecomp.data.dataset import data_fingerprint
from edgecomp.data.pipeline import predict, stream
from edgecomp.plan.stage_settings import DistillConfig


@functools.cache
def distiller_class():
    """The Distiller keras.Model subclass, created on first use (no TensorFlow import at start-up)."""
    tf_, keras_ = tf(), keras()

    class Distiller(keras_.Model):
        """Wraps a student and a teacher; `fit` trains the student on the KD loss.

        Targets are either labels (teacher run on each batch) or (labels, teacher_logits).
        """

        def __init__(self, student, teacher, temperature: float, alpha: float):
            super().__init__(name="distiller")
            self.student = student
            self.teacher = teacher
            self.temperature = temperature
            self.alpha = alpha
            self.loss_tracker = keras_.metrics.Mean(name="loss")
            self.accuracy = keras_.metrics.SparseCategoricalAccuracy(name="accuracy")

        @property
        def metrics(self):
            return [self.loss_tracker, self.accuracy]

        def call(self, images, training=False):
            return self.student(images, training=training)

        def train_step(self, data):
            images, targets = data
            if isinstance(targets, (tuple, list)):
                labels, teacher_logits = targets  # cached: (B,), (B, K)
            else:
                labels, teacher_logits = targets, self.teacher(images, training=False)  # (B, K)
            with tf_.GradientTape() as tape:
                student_logits = self.student(images, training=True)  # (B, K)
                loss = kd_loss(labels, student_logits, teacher_logits, self.temperature, self.alpha)
            variables = self.student.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            self.loss_tracker.update_state(loss)
            self.accuracy.update_state(hard_labels(labels), student_logits)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            images, labels = data
            student_logits = self.student(images, training=False)
            self.loss_tracker.update_state(cross_entropy(labels, student_logits))
            self.accuracy.update_state(labels, student_logits)
            return {m.name: m.result() for m in self.metrics}

    return Distiller

def distill_kd(student, teacher, data, cfg: DistillConfig, label: str = "kd", seed: int = 0,
               callbacks: list | None = None, fresh_bn: bool = False, restore_best=None) -> dict:
    """Trains `student` in place on the KD loss against `teacher` on the training split.

    Args:
        student: the model to train (its weights are updated).
        teacher: a trained model with the same input shape and classes (not changed).
        data: the Dataset.
        cfg: resolved settings (temperature, alpha, epochs, batch_size, learning_rate, teacher_logits,
            augment). With augmentation, `on_the_fly` runs the teacher on the very batch the student
            sees (same flip, shift and mixup); `cached` logits are of the unaugmented images.
        seed: seeds the shuffle and augmentation.
        callbacks: more Keras callbacks for the fit (pruning's step counter, QAT's mask keeper).
        fresh_bn: re-estimate the student's stale BatchNorm statistics before each validation
            (`compress.bn_stats.refresh_before_validation`); not for pruning-wrapped or QAT students.
        restore_best: a `fitting.restore_best_callback` on `student`; None: one is made when
            cfg.restore_best is on (every epoch eligible), else the last epoch's weights stay.

    Returns:
        Training info: seconds per epoch, history, seconds spent on the teacher's logits.
    """
    import time

    wrapper = distiller_class()(student, teacher, cfg.temperature, cfg.alpha)
    augment = cfg.augment if cfg.augment.enabled else None
    teacher_seconds, extra, logits_from_cache = 0.0, (), None
    if cfg.teacher_logits == "cached":
        started = time.perf_counter()
        logits, _, logits_from_cache = teacher_train_logits(teacher, data)  # (N, K), unaugmented images
        extra = (logits,)
        teacher_seconds = time.perf_counter() - started
    # Targets: labels (B,) [or mixed one-hot (B, K)], plus the cached logits when there are any.
    train_batches = stream(data, "train", cfg.batch_size, shuffle=True, seed=seed, augment=augment,
                           extra_targets=extra)
    steps = -(-data.count("train") // cfg.batch_size)
    if restore_best is None and cfg.restore_best:
        restore_best = restore_best_callback(student)
    info = fit_wrapper(wrapper, train_batches, data, cfg.epochs, steps, cfg.learning_rate, label, cfg.batch_size,
                       callbacks, fresh_bn_of=student if fresh_bn else None, seed=seed, restore_best=restore_best)
    info["augment"] = cfg.augment.describe(data.input_shape)
    # Function matching (Beyer et al. 2022) needs the teacher on the student's augmented view.
    info["teacher_sees_student_view"] = cfg.teacher_logits == "on_the_fly" or augment is None
    info["teacher_logits"] = cfg.teacher_logits
    info["teacher_logits_seconds"] = round(teacher_seconds, 3)
    if logits_from_cache is not None:
        info["teacher_logits_from_cache"] = logits_from_cache
    info["student_params"] = int(student.count_params())
    info["teacher_params"] = int(teacher.count_params())
    return info

def teacher_train_logits(teacher, data):
    """The teacher's logits on the training images (N, K) float32, from the stage cache when this
    very teacher (by its weights) already produced them on these very images.

    Returns:
        (logits, cache key or None, True when they came from the cache).
    """

    facts = {"kind": "teacher_train_logits", "teacher": model_fingerprint(teacher),
             "data": data_fingerprint(data)["content_sha256"], "normalization": data.normalization.describe()}
    return cached_array(facts, lambda: predict(teacher, data, "train", 512).astype("float32"),
                        stage="distill (teacher logits)", model=teacher.name)
