"""Light training augmentation, run inside tf.data on each batch: flip, pad-and-crop shift, mixup.

`augment: {flip, shift, mixup}` on the train, distill, prune and qat stages; off by default (flip
is wrong for digits or text: the user turns it on where the data allows). Every random choice
comes from a per-batch seed (stateless ops), so a batch is augmented the same way however many
parallel map calls tf.data runs, and a seeded run repeats.
"""

from __future__ import annotations

from typing import Union

from pydantic import Field, field_validator

from edgecomp.core.settings import Strict


class AugmentConfig(Strict):
    """What a training stage does to each training batch (validation and test images are never changed).

    Attributes:
        flip: mirror half the images left-right.
        shift: pad by this many pixels (an int >= 1) or this fraction of the image size (0 < f < 1)
            with black pixels, then crop back to the original size at a random offset.
        mixup: mixup's alpha (Zhang et al. 2018, arXiv:1710.09412): each batch is mixed with itself
            reversed, x = l * x_i + (1 - l) * x_j and likewise the one-hot labels, l ~ Beta(a, a);
            0 is off, 0.2-0.4 the usual values.
    """

    flip: bool = False
    shift: Union[int, float] = Field(0, ge=0)
    mixup: float = Field(0.0, ge=0)

    @field_validator("shift")
    @classmethod
    def _pixels_or_fraction(cls, value):
        if isinstance(value, float) and not value.is_integer() and value >= 1:
            raise ValueError(f"shift is whole pixels (>= 1) or a fraction of the image size (< 1); got {value}")
        return value

    @property
    def enabled(self) -> bool:
        return self.flip or self.shift > 0 or self.mixup > 0

    def shift_pixels(self, height: int, width: int) -> int:
        """The padding in pixels: `shift` itself, or that fraction of the smaller side (at least 1)."""
        if self.shift <= 0:
            return 0
        if self.shift < 1:
            return max(1, round(self.shift * min(height, width)))
        return int(self.shift)

    def describe(self, input_shape: tuple[int, int, int] | None = None) -> dict:
        """The settings as recorded in a stage's info (with the shift in pixels when the size is known)."""
        info = {"flip": self.flip, "shift": self.shift, "mixup": self.mixup, "enabled": self.enabled,
                "where": "tf.data map on each training batch; validation and test images unchanged"}
        if input_shape is not None:
            info["shift_pixels"] = self.shift_pixels(*input_shape[:2])
        return info


def augment_pixels(pixels, seed, cfg: AugmentConfig):
    """Flip and shift a batch of float32 pixels (B, H, W, C), before normalisation (pads are black).

    Args:
        pixels: float32 (B, H, W, C) pixel values 0..255.
        seed: int64 (2,) stateless seed of this batch.
        cfg: the augmentation settings.
    """
    import tensorflow as tf

    batch = tf.shape(pixels)[0]
    height, width = pixels.shape[1], pixels.shape[2]
    if cfg.flip:
        mirror = tf.random.stateless_uniform([batch], seed=seed) < 0.5  # (B,)
        pixels = tf.where(mirror[:, None, None, None], tf.reverse(pixels, axis=[2]), pixels)
    pad = cfg.shift_pixels(height, width)
    if pad:
        padded = tf.pad(pixels, [[0, 0], [pad, pad], [pad, pad], [0, 0]])  # (B, H+2p, W+2p, C)
        offsets = tf.random.stateless_uniform([batch, 2], seed=seed + 1, maxval=2 * pad + 1, dtype=tf.int32)
        rows = offsets[:, :1] + tf.range(height)[None, :]  # (B, H)
        cols = offsets[:, 1:] + tf.range(width)[None, :]  # (B, W)
        pixels = tf.gather(padded, rows, axis=1, batch_dims=1)  # (B, H, W+2p, C)
        pixels = tf.gather(pixels, cols, axis=2, batch_dims=1)  # (B, H, W, C)
    return pixels


def mix_batch(images, targets: tuple, seed, alpha: float, num_classes: int):
    """mixup of a normalised batch with itself reversed; integer labels become mixed one-hot (B, K).

    Args:
        images: float32 (B, H, W, C).
        targets: (labels (B,), *other per-image float targets such as cached teacher logits (B, K)).
        seed: int64 (2,) stateless seed.
        alpha: Beta(alpha, alpha) parameter.
        num_classes: K.

    Returns:
        (mixed images, (mixed one-hot labels (B, K), *mixed other targets)).
    """
    import tensorflow as tf

    # Beta(a, a) from two Gamma(a) draws: l = g1 / (g1 + g2).
    gammas = tf.random.stateless_gamma([2], seed=seed + 2, alpha=alpha)
    lam = gammas[0] / (gammas[0] + gammas[1])

    def mix(values):
        values = tf.cast(values, tf.float32)
        return lam * values + (1.0 - lam) * tf.reverse(values, axis=[0])

    labels = tf.one_hot(tf.cast(targets[0], tf.int32), num_classes)  # (B,) -> (B, K)
    return mix(images), (mix(labels),) + tuple(mix(t) for t in targets[1:])
