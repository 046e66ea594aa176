"""QAT's depthwise kernels are fake-quantized per output channel, as the TFLite file quantizes them."""

import numpy as np
import pytest

from edgecomp.compress.qat import build_qat_model
from edgecomp.core.tfenv import keras


def depthwise_net(multiplier: int):
    layers = keras().layers
    inputs = keras().Input((12, 12, 4))
    x = layers.DepthwiseConv2D(3, depth_multiplier=multiplier, padding="same", use_bias=False, name="dw")(inputs)
    x = layers.ReLU(6.0)(layers.BatchNormalization(name="dw_bn")(x))
    x = layers.ReLU(6.0)(layers.BatchNormalization()(layers.Conv2D(6, 1, use_bias=False, name="pw")(x)))
    return keras().Model(inputs, layers.Dense(3)(layers.GlobalAveragePooling2D()(x)))


def wrapper(qat_model, name: str):
    return next(layer for layer in qat_model.layers if getattr(layer, "layer", None) is not None
                and layer.layer.name == name)


@pytest.mark.parametrize("multiplier", [1, 2])
@pytest.mark.parametrize("prune_preserving", [False, True])
def test_depthwise_kernel_has_one_range_per_output_channel(multiplier, prune_preserving):
    """tfmot alone gives a (3, 3, 4, M) kernel M ranges (one for the whole kernel at M = 1); TFLite
    quantizes 4 * M output channels, each with its own scale."""
    qat_model, _ = build_qat_model(depthwise_net(multiplier), prune_preserving=prune_preserving)
    ranges = {w.name.split("/")[-1]: tuple(w.shape) for w in wrapper(qat_model, "dw").weights if "kernel_m" in w.name}
    assert ranges == {"depthwise_kernel_min:0": (4 * multiplier,), "depthwise_kernel_max:0": (4 * multiplier,)}
    conv_ranges = [tuple(w.shape) for w in wrapper(qat_model, "pw").weights if "kernel_min" in w.name]
    assert conv_ranges == [(6,)]  # Conv2D keeps tfmot's own per-channel config


def test_fake_quantized_kernel_is_symmetric_int8_per_channel():
    """The kernel QAT trains with, checked against int8 per-channel quantization done by hand:
    scale_c = max|w_c| / 127 for output channel c = input channel * M + m, values rounded to it."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    model = depthwise_net(2)
    kernel = rng.normal(size=(3, 3, 4, 2)).astype(np.float32)
    kernel[:, :, 0, :] *= 0.01  # one input channel with tiny weights: per-tensor would zero it out
    model.get_layer("dw").set_weights([kernel])
    qat_model, _ = build_qat_model(model)
    dw = wrapper(qat_model, "dw")
    quantizer = dw.quantize_config.weight_quantizer
    variables = {v.name.split("/")[-1].split(":")[0]: v for v in dw.weights}
    ranges = {"min_var": variables["depthwise_kernel_min"], "max_var": variables["depthwise_kernel_max"]}
    fake = quantizer(tf.constant(kernel), True, ranges).numpy()

    per_channel = kernel.reshape(3, 3, 8)  # (kh, kw, C * M): channel c * M + m
    scale = np.abs(per_channel).max(axis=(0, 1)) / 127.0
    expected = (np.round(per_channel / scale) * scale).reshape(kernel.shape)
    np.testing.assert_allclose(fake, expected, atol=1e-6)
    assert np.abs(fake[:, :, 0, :]).max() > 0  # the tiny channel kept its own scale
