"""A CNN family for small images (28x28x1 to 32x32x3): teacher, assistant and student sizes.

Every zoo model outputs logits (no softmax), which is what distillation losses need; the model
card written beside each artifact says so. Layers are named by stage (`stage2_conv1`) so that
self-distillation exits and pruning rules can name them; each stage ends in a downsampling
boundary (`stageN_pool`).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgecomp.core.registry import Registry
from edgecomp.core.tfenv import keras


@dataclass(frozen=True)
class CnnSpec:
    """Widths of the conv stages (each stage: `convs_per_stage` Conv-BN-ReLU, then 2x2 max-pool)."""

    stage_widths: tuple[int, ...]
    convs_per_stage: int
    dense_units: int
    dropout: float


ZOO: Registry[CnnSpec] = Registry("model")
# One conv per stage keeps the default teacher trainable to >90% on 2 CPU cores in minutes;
# the family still spans ~20x in parameters from teacher to student.
ZOO.register("cnn-teacher")(CnnSpec(stage_widths=(32, 64, 128), convs_per_stage=1, dense_units=256, dropout=0.3))
# Sized to a 15x raw-size budget against cnn-teacher (84k parameters; its QAT int8 TFLite is 97 kB
# against the teacher's 1.57 MB float32, 16.2x): cnn-assistant's layout with wider conv stages.
ZOO.register("cnn-assistant-wide")(CnnSpec(stage_widths=(24, 48, 72), convs_per_stage=1, dense_units=64,
                                           dropout=0.2))
ZOO.register("cnn-assistant")(CnnSpec(stage_widths=(16, 32, 64), convs_per_stage=1, dense_units=64, dropout=0.2))
ZOO.register("cnn-student")(CnnSpec(stage_widths=(8, 16, 32), convs_per_stage=1, dense_units=32, dropout=0.1))
ZOO.register("cnn-tiny")(CnnSpec(stage_widths=(4, 8), convs_per_stage=1, dense_units=16, dropout=0.0))


def build_zoo_model(name: str, input_shape: tuple[int, int, int], num_classes: int):
    """Builds the zoo model `name` for images of `input_shape` (H, W, C) and `num_classes` classes.

    Raises:
        UsageError: unknown model name (with a did-you-mean).
    """
    spec = ZOO.get(name)
    layers = keras().layers
    inputs = keras().Input(shape=input_shape, name="image")
    x = inputs
    for stage, width in enumerate(spec.stage_widths, start=1):
        for conv in range(1, spec.convs_per_stage + 1):
            # No conv bias: the BatchNormalization right after it has its own shift, and
            # Conv-BN adjacency is what lets QAT and the converter fold BN into the conv.
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"stage{stage}_conv{conv}")(x)
            x = layers.BatchNormalization(name=f"stage{stage}_bn{conv}")(x)
            x = layers.ReLU(name=f"stage{stage}_relu{conv}")(x)
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)  # (B, H, W, C) -> (B, H/2, W/2, C)
    x = layers.GlobalAveragePooling2D(name="gap")(x) if min(input_shape[:2]) >= 64 else layers.Flatten(name="flatten")(x)
    if spec.dropout:
        x = layers.Dropout(spec.dropout, name="dropout")(x)
    x = layers.Dense(spec.dense_units, name="fc1")(x)
    x = layers.ReLU(name="fc1_relu")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)  # (B, K) logits
    return keras().Model(inputs, outputs, name=name.replace("-", "_"))
