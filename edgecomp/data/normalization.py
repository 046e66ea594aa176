"""The one definition of how uint8 pixels become a model's float input: x = pixel * scale + offset.

A plan names it (`dataset.normalization`: unit | symmetric | imagenet | raw | {scale, offset});
training, calibration, parity, the on-device runner's sample file, the uint8 I/O input scale and
the model card all read the same `Normalization` record, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from edgecomp.core.errors import DatasetError

# ImageNet statistics on [0, 1] pixels (torchvision and keras.applications' "torch" mode).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

NAMED = {
    "unit": ((1 / 255.0,), (0.0,), "pixels to [0, 1] (x / 255)"),
    "symmetric": ((1 / 127.5,), (-1.0,), "pixels to [-1, 1] (x / 127.5 - 1, keras.applications MobileNet/EfficientNetV2)"),
    "imagenet": (tuple(1 / (255.0 * s) for s in IMAGENET_STD), tuple(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)),
                 "ImageNet mean/std per channel ((x / 255 - mean) / std)"),
    "raw": ((1.0,), (0.0,), "raw pixels 0..255 as float"),
}


@dataclass(frozen=True)
class Normalization:
    """x = pixel * scale + offset, with one scale/offset for all channels or one per channel.

    Attributes:
        name: "unit", "symmetric", "imagenet", "raw" or "custom".
        scale: one value, or one per channel.
        offset: one value, or one per channel.
    """

    name: str
    scale: tuple[float, ...]
    offset: tuple[float, ...]

    @property
    def channels(self) -> int | None:
        """The channel count this normalisation is fixed to (per-channel values), else None."""
        width = max(len(self.scale), len(self.offset))
        return width if width > 1 else None

    def check_channels(self, channels: int) -> None:
        """Raises DatasetError when per-channel values do not match the images' channel count."""

        if self.channels not in (None, channels):
            raise DatasetError(
                f"normalization {self.name!r} has {self.channels} values per channel but the images have "
                f"{channels} channel(s); use a scalar scale/offset, or dataset.channels: {self.channels}.")

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, offset) as float32 arrays of shape (1,) or (C,), broadcasting over (..., C)."""
        return np.asarray(self.scale, np.float32), np.asarray(self.offset, np.float32)

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels (..., C) -> float32 model input, in float32 like the tf.data map."""
        scale, offset = self.arrays()
        return pixels.astype(np.float32) * scale + offset

    def apply_tf(self, pixels):
        """The same formula on a tensor (inside tf.data): uint8 (B, H, W, C) -> float32."""
        import tensorflow as tf

        scale, offset = self.arrays()
        return tf.cast(pixels, tf.float32) * tf.constant(scale) + tf.constant(offset)

    def raw_pixel_zero_point(self) -> int | None:
        """The uint8 zero point at which a quantized input *is* the raw pixel, or None.

        A uint8 input q means (q - zp) * s; it equals pixel * scale + offset for every pixel only
        with one scale for all channels (s = scale) and an integer zp = -offset / scale in 0..255.
        """
        if len(set(self.scale)) != 1 or len(set(self.offset)) != 1:
            return None
        zero_point = -self.offset[0] / self.scale[0]
        rounded = round(zero_point)
        return rounded if abs(zero_point - rounded) < 1e-6 and 0 <= rounded <= 255 else None

    def formula(self) -> str:
        def values(v: tuple[float, ...]) -> str:
            return f"{v[0]:.6g}" if len(v) == 1 else "[" + ", ".join(f"{x:.6g}" for x in v) + "]"

        return f"x = pixel * {values(self.scale)} + {values(self.offset)}"

    def describe(self) -> dict:
        """What reports and model cards record: name, per-channel values and the formula."""
        return {"name": self.name, "scale": list(self.scale), "offset": list(self.offset),
                "formula": self.formula(), "meaning": NAMED[self.name][2] if self.name in NAMED else "custom"}

    def summary(self) -> str:
        return f"{self.name}: {self.formula()}"

UNIT = Normalization("unit", *NAMED["unit"][:2])

# What a plan may write: a name, or {scale, offset} with scalars or per-channel lists.
NormalizationSetting = Union[str, dict]


def _values(value: Any, key: str) -> tuple[float, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"normalization {key} must be a number or a list of numbers (one per channel); got {value!r}")
    return tuple(float(v) for v in values)

def parse_normalization(setting: NormalizationSetting | Normalization) -> Normalization:
    """Turns a plan's `normalization` setting into a Normalization.

    Raises:
        ValueError: an unknown name (with a did-you-mean), a zero scale, mismatched list lengths or
            an unknown key (pydantic turns it into the plan's ConfigError).
    """
    import difflib

    if isinstance(setting, Normalization):
        return setting
    if isinstance(setting, str):
        if setting not in NAMED:
            close = difflib.get_close_matches(setting, list(NAMED), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown normalization {setting!r}.{hint} Valid: {', '.join(NAMED)}, "
                             "or {scale: ..., offset: ...}")
        scale, offset, _ = NAMED[setting]
        return Normalization(setting, scale, offset)
    if not isinstance(setting, dict):
        raise ValueError(f"normalization must be a name ({', '.join(NAMED)}) or {{scale, offset}}; got {setting!r}")
    unknown = sorted(set(setting) - {"scale", "offset"})
    if unknown or "scale" not in setting:
        raise ValueError("normalization {scale, offset} takes `scale` (required) and `offset` (default 0)"
                         + (f"; unknown key(s) {', '.join(unknown)}" if unknown else ""))
    scale = _values(setting["scale"], "scale")
    offset = _values(setting.get("offset", 0.0), "offset")
    if any(s == 0 for s in scale):
        raise ValueError("normalization scale must not be 0 (every pixel would map to the offset)")
    if len(scale) > 1 and len(offset) > 1 and len(scale) != len(offset):
        raise ValueError(f"normalization scale has {len(scale)} values but offset has {len(offset)}; "
                         "give one per channel for both, or a scalar")
    return Normalization("custom", scale, offset)

def check_uint8_io(normalization: Normalization) -> int:
    """The uint8 input zero point of a `uint8_io` export, which must take raw pixels unchanged.

    Raises:
        ValueError: the normalisation has no such zero point (per-channel values, or a zero point
            like symmetric's 127.5 that is not a whole number), so a uint8 input could not be the
            raw pixel; the message names the modes that work instead.
    """
    zero_point = normalization.raw_pixel_zero_point()
    if zero_point is None:
        why = ("it differs per channel" if len(set(normalization.scale)) > 1 or len(set(normalization.offset)) > 1
               else f"its zero point -offset/scale = {-normalization.offset[0] / normalization.scale[0]:.6g} "
                    "is not a whole number in 0..255")
        raise ValueError(
            f"uint8_io needs a uint8 input that is the raw pixel, which normalization {normalization.name!r} "
            f"({normalization.formula()}) cannot give: {why}. Use int8 (float input) or int8_io, or "
            "normalization unit, raw or {scale: s, offset: -k * s} with a whole k")
    return zero_point
