"""The quantize scheme of the `qat` stage: tfmot's, with DepthwiseConv2D kernels per channel as in TFLite.

tfmot's default 8-bit registry gives DepthwiseConv2D the Conv2D weight quantizer, whose per-axis
ranges have `kernel.shape[-1]` entries. For a depthwise kernel (kh, kw, C, multiplier) that axis is
the multiplier, 1 in every MobileNet: the whole kernel gets one range (tfmot issue #808), while
the converter folds BatchNorm's per-channel scale into that kernel before it is stored, so one
range cannot fit what the file holds. Per output channel (c * multiplier + m, TFLite's order), a
symmetric range simply scales with BatchNorm's factor, and the Keras QAT model computes what the
file computes, as tfmot's Conv2D config already does.

Measured on a MobileNetV2 (alpha 0.35) student at 96x96 (the same stages before QAT, so only the
scheme differs): the qat_int8 file's top-1 agreement with its Keras QAT model rose from 92.0% to
95.2% and its accuracy from 69.5% to 70.0%. Still short of parity's 97%: some other difference
between tfmot's simulation and the converter remains on MobileNets (a ResNet-style net without
depthwise convs agrees on 99.8%).
"""

from __future__ import annotations

import functools

from edgecomp.core.tfenv import keras, tfmot


@functools.lru_cache(maxsize=1)
def depthwise_classes():
    """(the per-channel depthwise kernel quantizer, the depthwise QuantizeConfig using it), created
    on first use (no TensorFlow import at start-up)."""
    import tensorflow as tf

    q = tfmot().quantization.keras
    layers = keras().layers
    probe = layers.DepthwiseConv2D(3)
    # The config class tfmot's own registry gives DepthwiseConv2D (public route, not a private import).
    base_config = type(q.default_8bit.Default8BitQuantizeScheme().get_quantize_registry().get_quantize_config(probe))

    class DepthwisePerChannelWeightsQuantizer(q.quantizers.LastValueQuantizer):
        """Symmetric int8, narrow range, one range per output channel of a (kh, kw, C, M) kernel."""

        def __init__(self):
            super().__init__(num_bits=8, per_axis=True, symmetric=True, narrow_range=True)

        def build(self, tensor_shape, name, layer):
            channels = int(tensor_shape[-2]) * int(tensor_shape[-1])

            def range_weight(suffix: str, start: float):  # named as tfmot names its own ranges
                return layer.add_weight(f"{name}_{suffix}", shape=(channels,), trainable=False,
                                        initializer=keras().initializers.Constant(start))

            return {"min_var": range_weight("min", -6.0), "max_var": range_weight("max", 6.0)}

        def __call__(self, inputs, training, weights, **kwargs):
            shape = tf.shape(inputs)
            # (kh, kw, C, M) -> (kh, kw, 1, C * M): output channel c * M + m on the last axis
            per_channel = tf.reshape(inputs, tf.stack([shape[0], shape[1], 1, shape[2] * shape[3]]))
            return tf.reshape(super().__call__(per_channel, training, weights, **kwargs), shape)

        def get_config(self):
            return {}

        @classmethod
        def from_config(cls, config):
            return cls()

    class DepthwisePerChannelQuantizeConfig(base_config):
        def __init__(self, weight_attrs, activation_attrs, quantize_output):
            super().__init__(weight_attrs, activation_attrs, quantize_output)
            self.weight_quantizer = DepthwisePerChannelWeightsQuantizer()

    return DepthwisePerChannelWeightsQuantizer, DepthwisePerChannelQuantizeConfig


def custom_objects() -> dict:
    """What loading a saved QAT model needs for the depthwise classes."""
    quantizer, config = depthwise_classes()
    return {quantizer.__name__: quantizer, config.__name__: config}


class _Registry:
    """tfmot's registry, with the per-channel config for every DepthwiseConv2D it supports."""

    def __init__(self, base):
        self._base = base

    def supports(self, layer):
        return self._base.supports(layer)

    def get_quantize_config(self, layer):
        config = self._base.get_quantize_config(layer)
        if isinstance(layer, keras().layers.DepthwiseConv2D) and hasattr(config, "weight_quantizer"):
            _, depthwise_config = depthwise_classes()
            settings = config.get_config()
            return depthwise_config(settings["weight_attrs"], settings["activation_attrs"],
                                    settings["quantize_output"])
        return config


def quantize_scheme(prune_preserving: bool):
    """tfmot's default 8-bit scheme (or its prune-preserving one) with per-channel depthwise kernels.

    (tfmot's prune-preserving registry leaves DepthwiseConv2D to the default config, so the zeros
    of a depthwise kernel are kept by the qat stage's mask callback, as before.)
    """
    base = (tfmot().experimental.combine.Default8BitPrunePreserveQuantizeScheme if prune_preserving
            else tfmot().quantization.keras.default_8bit.Default8BitQuantizeScheme)

    class PerChannelDepthwiseScheme(base):
        def get_quantize_registry(self):
            return _Registry(super().get_quantize_registry())

    return PerChannelDepthwiseScheme()
