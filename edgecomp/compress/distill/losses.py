"""Distillation losses (TensorFlow ops on logits), one per method, each with its paper and formula.

Conventions: `labels` are integer class ids (B,), logits are (B, K) and never softmaxed by the
model; cross-entropy and KL are averaged over the batch (KL summed over classes first).
"""

from __future__ import annotations

from edgecomp.core.tfenv import tf


def cross_entropy(labels, logits):
    """Mean cross-entropy: CE(y, z) = -mean_b log softmax(z_b)[y_b] for integer labels (B,), or
    -mean_b sum_k y_bk log softmax(z_b)_k for probability targets (B, K) (mixup's mixed labels)."""
    tf_ = tf()
    if len(labels.shape) == 2 and labels.shape[-1] != 1:  # (B, K) soft targets
        per_sample = tf_.nn.softmax_cross_entropy_with_logits(labels=tf_.cast(labels, logits.dtype), logits=logits)
        return tf_.reduce_mean(per_sample)
    labels = tf_.cast(tf_.reshape(labels, [-1]), tf_.int32)  # (B,)
    per_sample = tf_.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)  # (B,)
    return tf_.reduce_mean(per_sample)


def hard_labels(labels):
    """Integer labels (B,) for an accuracy metric: the argmax of mixed one-hot targets (B, K)."""
    tf_ = tf()
    if len(labels.shape) == 2 and labels.shape[-1] != 1:
        return tf_.argmax(labels, axis=-1)
    return labels


def softened_kl(target_probs, student_logits, temperature: float):
    """Temperature-scaled KL divergence, multiplied by T^2 (Hinton et al. 2015, sec. 2).

    T^2 * mean_b sum_k p_bk * (log p_bk - log softmax(s_b / T)_k), where `target_probs` p are
    already softened (softmax(teacher / T)). The T^2 factor keeps the soft-target gradients the
    same magnitude as the hard-label ones when T changes.
    """
    tf_ = tf()
    target_probs = tf_.stop_gradient(target_probs)  # targets are constants for the student
    log_student = tf_.nn.log_softmax(student_logits / temperature, axis=-1)  # (B, K)
    log_target = tf_.math.log(tf_.clip_by_value(target_probs, 1e-12, 1.0))  # (B, K)
    per_sample = tf_.reduce_sum(target_probs * (log_target - log_student), axis=-1)  # (B,)
    return temperature ** 2 * tf_.reduce_mean(per_sample)


def kd_loss(labels, student_logits, teacher_logits, temperature: float, alpha: float):
    """Knowledge distillation loss of Hinton, Vinyals and Dean, "Distilling the Knowledge in a
    Neural Network" (2015), arXiv:1503.02531.

    L = (1 - a) * CE(y, s) + a * T^2 * KL(softmax(t / T) || softmax(s / T))

    Args:
        labels: (B,) integer labels.
        student_logits: (B, K) student logits s.
        teacher_logits: (B, K) teacher logits t (no gradient flows into them).
        temperature: T > 0.
        alpha: a in [0, 1], the weight of the soft-target term.

    Returns:
        The scalar loss.
    """
    teacher_probs = tf().nn.softmax(teacher_logits / temperature, axis=-1)  # (B, K)
    return ((1.0 - alpha) * cross_entropy(labels, student_logits)
            + alpha * softened_kl(teacher_probs, student_logits, temperature))


def byot_loss(labels, final_logits, exit_logits, final_features, exit_features,
              temperature: float, alpha: float, hint_weight: float):
    """Self-distillation loss of Zhang et al., "Be Your Own Teacher: Improve the Performance of
    Convolutional Neural Networks via Self Distillation" (ICCV 2019), arXiv:1905.08094.

    With C the deepest classifier (the network's own output) and i = 1..n the shallow exits:

    L = CE(y, q_C) + sum_i [ (1 - a) * CE(y, q_i) + a * T^2 * KL(softmax(q_C / T) || softmax(q_i / T))
                             + lambda * ||F_i - F_C||_2^2 ]

    q are logits, F_i the exit's projected features and F_C the deepest features (the input of
    the final classifier). The deepest classifier teaches: no gradient flows through q_C or F_C
    in the KL and hint terms (as in the authors' code). The T^2 scaling follows Hinton et al.
    The squared L2 is averaged over the batch and the feature dimension.

    Args:
        labels: (B,) integer labels.
        final_logits: (B, K) deepest classifier.
        exit_logits: list of (B, K), one per shallow exit.
        final_features: (B, D) deepest features.
        exit_features: list of (B, D), one per shallow exit.
        temperature: T > 0.
        alpha: a in [0, 1].
        hint_weight: lambda >= 0.

    Returns:
        (total loss, list of per-exit losses) - the per-exit losses for logging.
    """
    tf_ = tf()
    teacher_probs = tf_.stop_gradient(tf_.nn.softmax(final_logits / temperature, axis=-1))  # (B, K)
    teacher_features = tf_.stop_gradient(final_features)  # (B, D)
    total = cross_entropy(labels, final_logits)
    per_exit = []
    for logits, features in zip(exit_logits, exit_features):
        exit_loss = ((1.0 - alpha) * cross_entropy(labels, logits)
                     + alpha * softened_kl(teacher_probs, logits, temperature)
                     + hint_weight * tf_.reduce_mean(tf_.square(features - teacher_features)))
        per_exit.append(exit_loss)
        total = total + exit_loss
    return total, per_exit


def dlb_loss(labels, logits, prev_batch_soft_targets, temperature: float, alpha: float, has_targets=1.0):
    """Self-distillation from the last mini-batch: Shen et al., "Self-Distillation from the Last
    Mini-Batch for Consistency Regularization" (CVPR 2022), arXiv:2203.16172.

    Each batch is [repeated half (the previous batch's second half); new half]:

    L = CE(y, z) + a * T^2 * KL(p_prev || softmax(z[:h] / T))

    where CE is over the whole batch of 2h samples, z[:h] the current logits of the repeated half
    and p_prev = softmax(z'/T) the softened predictions the previous iteration made for those
    same samples (stored, so no extra forward pass and no teacher).

    Args:
        labels: (2h,) integer labels.
        logits: (2h, K) current logits.
        prev_batch_soft_targets: (h, K) stored softened predictions from the previous step.
        temperature: T > 0.
        alpha: a in [0, 1].
        has_targets: 0.0 on the first step of an epoch (no previous step yet), else 1.0.

    Returns:
        (total loss, cross-entropy, T^2-scaled KL).
    """
    half = tf().shape(prev_batch_soft_targets)[0]
    ce = cross_entropy(labels, logits)
    kl = softened_kl(prev_batch_soft_targets, logits[:half], temperature) * has_targets
    return ce + alpha * kl, ce, kl
