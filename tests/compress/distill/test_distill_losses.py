"""Golden values for the distillation losses, computed by hand with NumPy on tiny tensors."""

from __future__ import annotations

import numpy as np
import pytest

from edgecomp.compress.distill import losses

LABELS = np.array([0, 2], dtype=np.int32)
STUDENT = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 1.5]], dtype=np.float32)
TEACHER = np.array([[3.0, 1.0, -2.0], [-0.5, 0.0, 2.5]], dtype=np.float32)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def ce(labels, logits):
    return float(np.mean(-np.log(softmax(logits)[np.arange(len(labels)), labels])))


def kl_t2(target_probs, logits, t):
    student = softmax(logits / t)
    return float(t * t * np.mean(np.sum(target_probs * (np.log(target_probs) - np.log(student)), -1)))


def test_cross_entropy_matches_numpy():
    assert float(losses.cross_entropy(LABELS, STUDENT)) == pytest.approx(ce(LABELS, STUDENT), rel=1e-5)


@pytest.mark.parametrize("temperature,alpha", [(4.0, 0.9), (1.0, 0.0), (2.0, 1.0)])
def test_kd_loss_matches_hand_computation(temperature, alpha):
    expected = (1 - alpha) * ce(LABELS, STUDENT) + alpha * kl_t2(softmax(TEACHER / temperature), STUDENT, temperature)
    got = float(losses.kd_loss(LABELS, STUDENT, TEACHER, temperature, alpha))
    assert got == pytest.approx(expected, rel=1e-5)


def test_kd_loss_is_the_labels_cross_entropy_when_alpha_is_zero():
    """alpha = 0 leaves -mean_b log softmax(s_b)[y_b]: written out per sample, whatever the teacher says."""
    # Sample 0, label 0, s = (2.0, 0.5, -1.0); sample 1, label 2, s = (0.1, 0.2, 1.5).
    sample0 = -2.0 + np.log(np.exp(2.0) + np.exp(0.5) + np.exp(-1.0))
    sample1 = -1.5 + np.log(np.exp(0.1) + np.exp(0.2) + np.exp(1.5))
    expected = (sample0 + sample1) / 2  # (0.2413 + 0.4181) / 2 = 0.3297
    opposite_teacher = -5 * TEACHER
    assert float(losses.kd_loss(LABELS, STUDENT, opposite_teacher, 4.0, 0.0)) == pytest.approx(expected, rel=1e-5)


def test_kd_soft_term_is_the_cross_entropy_to_the_teacher_less_its_entropy():
    """alpha = 1: T^2 * KL(p || q) = T^2 * (H(p, q) - H(p)), p = softmax(t / T), q = softmax(s / T)."""
    t = 2.0
    p, q = softmax(TEACHER / t), softmax(STUDENT / t)
    cross_entropy = -np.sum(p * np.log(q), -1)  # H(p, q) per sample
    entropy = -np.sum(p * np.log(p), -1)  # H(p) per sample
    expected = t * t * float(np.mean(cross_entropy - entropy))
    assert expected > 0.05
    assert float(losses.kd_loss(LABELS, STUDENT, TEACHER, t, 1.0)) == pytest.approx(expected, rel=1e-5)
    # The student that equals its teacher has nothing left to learn from it.
    assert float(losses.kd_loss(LABELS, TEACHER, TEACHER, t, 1.0)) == pytest.approx(0.0, abs=1e-6)


def test_byot_loss_matches_hand_computation():
    t, a, lam = 3.0, 0.3, 0.03
    final_features = np.array([[1.0, 0.0], [0.5, 2.0]], dtype=np.float32)
    exit_features = np.array([[0.0, 1.0], [0.5, 1.0]], dtype=np.float32)
    expected = ce(LABELS, TEACHER) + (
        (1 - a) * ce(LABELS, STUDENT) + a * kl_t2(softmax(TEACHER / t), STUDENT, t)
        + lam * float(np.mean((exit_features - final_features) ** 2)))
    total, per_exit = losses.byot_loss(LABELS, TEACHER, [STUDENT], final_features, [exit_features], t, a, lam)
    assert float(total) == pytest.approx(expected, rel=1e-5)
    assert len(per_exit) == 1


def test_dlb_loss_uses_only_the_repeated_half():
    t, a = 3.0, 1.0
    labels = np.array([0, 2, 1, 1], dtype=np.int32)
    logits = np.concatenate([STUDENT, TEACHER])  # (4, K): first half repeated, second half new
    prev = softmax(TEACHER / t)  # (2, K) stored targets for the first half
    total, ce_part, kl_part = losses.dlb_loss(labels, logits, prev, t, a)
    assert float(ce_part) == pytest.approx(ce(labels, logits), rel=1e-5)
    assert float(kl_part) == pytest.approx(kl_t2(prev, STUDENT, t), rel=1e-5)
    assert float(total) == pytest.approx(ce(labels, logits) + a * kl_t2(prev, STUDENT, t), rel=1e-5)
    _, _, no_kl = losses.dlb_loss(labels, logits, prev, t, a, has_targets=0.0)
    assert float(no_kl) == 0.0
