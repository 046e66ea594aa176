"""The keras.applications half of the quantization suite: two backbones (weights=None, nothing downloads
here) trained by the plan's own train stage on real Fashion-MNIST at 96x96x3, then every quantize mode.

`run.py --suite apps` writes the data, the untrained model files and one plan per model (the plan is
copied into the run folder: `RUN/plan.yaml`), and runs `edgecomp build` on each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

SIZE = 96
TRAIN_IMAGES, TEST_IMAGES = 9000, 3000  # the first N of each Fashion-MNIST split
# Train settings (documented in results.md): from random weights, short enough for a shared 2-core host.
TRAIN = {"stage": "train", "epochs": 6, "batch_size": 64, "learning_rate": 0.002}
# keras.applications' BatchNormalization keeps its moving statistics with momentum 0.999 (ImageNet-length
# training); after ~800 steps they would still be half their initial values and the model would
# evaluate far below what it learned. 0.9 is the user's choice here, set before training.
BN_MOMENTUM = 0.9
# The quantizer's recipes beside their converter counterparts (int8 ~ a8w8, int16x8 ~ a16w8). The teacher's
# plan has every converter mode; here float16, dynamic, int8_io, uint8_io and int8_mixed are left out to fit
# the CPU budget of a shared 2-core host (each 96x96 export took ~5 min under its load).
MODES = ["int8", "int16x8", "a8w8", "a16w8", "w4", "dynamic_w4", "auto"]


def _classifier(backbone, name: str):
    import keras

    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    outputs = keras.layers.Dense(10, name="logits")(keras.layers.Dropout(0.2)(x))
    return keras.Model(inputs, outputs, name=name)


def mobilenetv2_035():
    import keras

    return _classifier(keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), alpha=0.35, weights=None,
                                                      include_top=False), "mobilenetv2_035_classifier")


def mobilenetv3_small():
    import keras

    # include_preprocessing (the default) rescales 0..255 pixels inside the model: normalization raw.
    return _classifier(keras.applications.MobileNetV3Small(input_shape=(SIZE, SIZE, 3), weights=None,
                                                           include_top=False), "mobilenetv3_small_classifier")


# name -> (builder, the input range the architecture expects)
APPS = {"mobilenetv2_035": (mobilenetv2_035, "symmetric"), "mobilenetv3_small": (mobilenetv3_small, "raw")}


def write_fmnist96(path: Path) -> None:
    """Real Fashion-MNIST resized to 96x96 (bilinear, PIL) and stacked to RGB, uint8, as an .npz."""
    from PIL import Image

    from edgecomp.data.dataset import FASHION_MNIST_CLASSES, fashion_mnist

    raw = fashion_mnist()

    def resize(pixels: np.ndarray) -> np.ndarray:  # (N, 28, 28, 1) uint8 -> (N, 96, 96, 3) uint8
        big = np.stack([np.asarray(Image.fromarray(p[..., 0]).resize((SIZE, SIZE), Image.BILINEAR)) for p in pixels])
        return np.repeat(big[..., None], 3, axis=-1)

    np.savez(path, x_train=resize(raw.x_train[:TRAIN_IMAGES]), y_train=raw.y_train[:TRAIN_IMAGES],
             x_test=resize(raw.x_test[:TEST_IMAGES]), y_test=raw.y_test[:TEST_IMAGES],
             class_names=np.asarray(FASHION_MNIST_CLASSES))


def write_plan(name: str, folder: Path, data: Path) -> Path:
    """The untrained model file and its plan: train, then every quantize mode; returns the plan's path."""
    builder, normalization = APPS[name]
    model_path = folder / f"{name}.keras"
    builder().save(model_path)
    plan = {"name": f"quantization-{name}", "model": str(model_path),
            "dataset": {"name": str(data), "normalization": normalization}, "seed": 0,
            "stages": [dict(TRAIN),
                       {"stage": "quantize", "modes": MODES, "calibration_samples": 300, "max_drop": 0.5}],
            # Accuracy on the first 1,000 test images (a standard error near 1 pt per accuracy; the
            # differences between files of one model are paired, so tighter), parity on 300.
            "export": {"formats": ["tflite"], "parity_samples": 300},
            "bench": {"threads": 1, "warmup": 10, "min_runs": 100, "min_time_s": 1.0, "accuracy_samples": 1000}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path
